# Events topic -> push subscription (OIDC, backoff, dead-letter policy) -> function;
# dead-letter topic -> pull subscription that keeps parked events for inspection and replay.

resource "google_pubsub_topic" "events" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; a customer-managed key is an organisation policy choice, not this module's.
  project = var.project_id
  name    = var.events_topic_name
  labels  = local.labels

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; a customer-managed key is an organisation policy choice, not this module's.
  project = var.project_id
  name    = var.dead_letter_topic_name
  labels  = local.labels

  depends_on = [google_project_service.apis]
}

# Messages published to a topic without subscriptions are lost, so the dead-letter topic always
# has this one: it keeps parked messages 7 days and never expires. Replay reads from it.
resource "google_pubsub_subscription" "dead_letter" {
  project = var.project_id
  name    = "${var.dead_letter_topic_name}-pull"
  topic   = google_pubsub_topic.dead_letter.id
  labels  = local.labels

  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

# A direct push subscription rather than the function's event_trigger: the Eventarc-managed
# subscription cannot carry a dead-letter policy (provider issue 25069), so failures would vanish
# after its retention. Arguments checked against the provider's pubsub_subscription docs.
resource "google_pubsub_subscription" "push" {
  project = var.project_id
  name    = "${var.function_name}-push"
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
