# Events topic -> push subscription (OIDC, backoff, dead-letter policy) -> function;
# dead-letter topic -> pull subscription that keeps parked events for inspection and replay.
# Both topics carry raw events (emails, phone numbers, IP addresses): they are stored only in the
# allowed regions, and topic_kms_key_name encrypts both with one customer-managed key.

locals {
  message_storage_regions = length(var.message_storage_regions) > 0 ? var.message_storage_regions : [var.region]
  topic_kms_key_name      = var.topic_kms_key_name != "" ? var.topic_kms_key_name : null
}

resource "google_pubsub_topic" "events" {
  #checkov:skip=CKV_GCP_83:A customer-managed key is optional here: set var.topic_kms_key_name.
  project      = var.project_id
  name         = local.names.events_topic
  labels       = local.labels
  kms_key_name = local.topic_kms_key_name

  message_storage_policy {
    allowed_persistence_regions = local.message_storage_regions
  }

  depends_on = [time_sleep.apis_settle, google_kms_crypto_key_iam_member.pubsub_agent_topic_key]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:A customer-managed key is optional here: set var.topic_kms_key_name.
  project      = var.project_id
  name         = local.names.dead_letter_topic
  labels       = local.labels
  kms_key_name = local.topic_kms_key_name

  message_storage_policy {
    allowed_persistence_regions = local.message_storage_regions
  }

  depends_on = [time_sleep.apis_settle, google_kms_crypto_key_iam_member.pubsub_agent_topic_key]
}

# Messages published to a topic without subscriptions are lost, so the dead-letter topic always
# has this one: it keeps parked messages for dead_letter_retention_days and never expires. Replay
# reads from it. It holds events nobody has looked at yet, so a destroy must not take it along.
resource "google_pubsub_subscription" "dead_letter" {
  project = var.project_id
  name    = local.names.dead_letter_subscription
  topic   = google_pubsub_topic.dead_letter.id
  labels  = local.labels

  message_retention_duration = "${var.dead_letter_retention_days * 86400}s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }

  lifecycle {
    prevent_destroy = true
  }
}

# A direct push subscription rather than the function's event_trigger: the Eventarc-managed
# subscription cannot carry a dead-letter policy (provider issue 25069), so failures would vanish
# after its retention.
resource "google_pubsub_subscription" "push" {
  project = var.project_id
  name    = local.names.push_subscription
  topic   = google_pubsub_topic.events.id
  labels  = local.labels

  # For push delivery this is also the request timeout, so it must cover the function's timeout.
  ack_deadline_seconds = var.ack_deadline_seconds
  filter               = var.subscription_filter != "" ? var.subscription_filter : null

  push_config {
    # The run.app URL (not the function's `url`): internal ingress admits Pub/Sub pushes to it.
    push_endpoint = google_cloudfunctions2_function.forwarder.service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.forwarder.service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  lifecycle {
    precondition {
      condition     = var.ack_deadline_seconds >= var.timeout_seconds
      error_message = "ack_deadline_seconds must be at least timeout_seconds, or Pub/Sub abandons pushes the function is still handling."
    }
  }

  # Grant first, so the first pushes are neither refused nor dead-lettered into a topic the
  # service agent cannot publish to.
  depends_on = [
    google_cloud_run_v2_service_iam_member.push_invoker,
    google_service_account_iam_member.pubsub_agent_token_creator,
    google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher,
  ]
}
