# What the function's log lines say, as Cloud Monitoring metrics, a dashboard and two optional
# alerts. The lines are the function's structured stdout (lib/logs.py): in Cloud Logging their
# fields are jsonPayload.*, on the function's Cloud Run service.
#   events               one per event: outcome, reason, Pinterest event name
#   with-KEY             processed events that carried a match key (or their own event_id)
#   pinterest-requests   one per Pinterest request: status (or the reason no answer came)
#   pinterest-latency    the requests' durations, in milliseconds

locals {
  function_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.names.function}\""

  # Messages of the lines that record an event's outcome (a message that cannot be read at all is
  # dead-lettered as one rejected event without a name).
  event_messages = ["event processed", "event rejected", "event skipped", "event deferred", "message dead-lettered"]
  event_labels = {
    outcome    = "processed, rejected, skipped or deferred"
    reason     = "why the event was not processed (empty when it was)"
    event_name = "Pinterest event name (empty when the message could not be read)"
  }

  # Condition on a processed event's line -> the events its metric counts. match_keys lists the
  # user_data keys sent; `:` is Cloud Logging's "has" test, and no key is part of another's name.
  coverage_conditions = {
    em           = "jsonPayload.match_keys:\"em\""
    ph           = "jsonPayload.match_keys:\"ph\""
    external_id  = "jsonPayload.match_keys:\"external_id\""
    click_id     = "jsonPayload.match_keys:\"click_id\""
    hashed_maids = "jsonPayload.match_keys:\"hashed_maids\""
    ip_ua        = "jsonPayload.match_keys:\"client_ip_address\" AND jsonPayload.match_keys:\"client_user_agent\""
    own_event_id = "jsonPayload.own_event_id=true"
  }

  request_labels = {
    status    = "Pinterest's HTTP status (empty when no answer came)"
    reason    = "why no answer came, e.g. timeout or connection_error"
    test_mode = "whether the request was sent in test mode"
  }

  metric_type = "logging.googleapis.com/user/"
}

resource "google_logging_metric" "events" {
  count = var.log_metrics_enabled ? 1 : 0

  project     = var.project_id
  name        = "${local.names.metric_prefix}events"
  description = "Events the ${local.names.function} function handled, by outcome, reason and Pinterest event name."
  filter      = "${local.function_logs} AND jsonPayload.message=(${join(" OR ", formatlist("\"%s\"", local.event_messages))})"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name_prefix}: events"

    dynamic "labels" {
      for_each = local.event_labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = labels.value
      }
    }
  }
  label_extractors = { for key, _ in local.event_labels : key => "EXTRACT(jsonPayload.${key})" }

  depends_on = [time_sleep.apis_settle]
}

resource "google_logging_metric" "with_key" {
  for_each = var.log_metrics_enabled ? local.coverage_conditions : {}

  project     = var.project_id
  name        = "${local.names.metric_prefix}with-${each.key}"
  description = "Processed events of the ${local.names.function} function with ${each.key}, by Pinterest event name."
  filter      = "${local.function_logs} AND jsonPayload.message=\"event processed\" AND ${each.value}"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name_prefix}: processed events with ${each.key}"

    labels {
      key         = "event_name"
      value_type  = "STRING"
      description = local.event_labels.event_name
    }
  }
  label_extractors = { event_name = "EXTRACT(jsonPayload.event_name)" }

  depends_on = [time_sleep.apis_settle]
}

resource "google_logging_metric" "pinterest_requests" {
  count = var.log_metrics_enabled ? 1 : 0

  project     = var.project_id
  name        = "${local.names.metric_prefix}pinterest-requests"
  description = "Requests the ${local.names.function} function sent to Pinterest, by status."
  filter      = "${local.function_logs} AND jsonPayload.message=\"pinterest request\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name_prefix}: Pinterest requests"

    dynamic "labels" {
      for_each = local.request_labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = labels.value
      }
    }
  }
  label_extractors = { for key, _ in local.request_labels : key => "EXTRACT(jsonPayload.${key})" }

  depends_on = [time_sleep.apis_settle]
}

resource "google_logging_metric" "pinterest_latency" {
  count = var.log_metrics_enabled ? 1 : 0

  project         = var.project_id
  name            = "${local.names.metric_prefix}pinterest-latency"
  description     = "Duration of the ${local.names.function} function's Pinterest requests."
  filter          = "${local.function_logs} AND jsonPayload.message=\"pinterest request\""
  value_extractor = "EXTRACT(jsonPayload.duration_ms)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "${var.name_prefix}: Pinterest request latency"

    labels {
      key         = "status"
      value_type  = "STRING"
      description = local.request_labels.status
    }
  }
  label_extractors = { status = "EXTRACT(jsonPayload.status)" }

  # 5 ms doubling up to about 40 minutes: every request lands in a finite bucket.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 5
    }
  }

  depends_on = [time_sleep.apis_settle]
}

resource "google_monitoring_dashboard" "forwarder" {
  count = var.log_metrics_enabled && var.dashboard_enabled ? 1 : 0

  project = var.project_id
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", {
    display_name             = local.names.dashboard
    events                   = google_logging_metric.events[0].name
    coverage                 = { for key, metric in google_logging_metric.with_key : key => metric.name }
    requests                 = google_logging_metric.pinterest_requests[0].name
    latency                  = google_logging_metric.pinterest_latency[0].name
    dead_letter_subscription = google_pubsub_subscription.dead_letter.name
  })

  depends_on = [time_sleep.apis_settle]
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  count = var.dead_letter_alert_enabled ? 1 : 0

  project               = var.project_id
  display_name          = local.names.dead_letter_alert
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "${google_pubsub_subscription.dead_letter.name} has undelivered messages"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "${var.dead_letter_alert_minutes * 60}s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Events were dead-lettered: Pinterest rejected them or every delivery attempt failed. Pull a few from subscription `${google_pubsub_subscription.dead_letter.name}` to read their `reason` attribute, fix the cause, then replay them to the events topic (docs/operations.md)."
  }

  depends_on = [time_sleep.apis_settle]
}

# The share of processed events of one name that carried an email: a drop usually means the
# server container stopped sending user_data.email_address (a tag or consent change).
resource "google_monitoring_alert_policy" "email_share" {
  count = var.email_share_alert_enabled ? 1 : 0

  project               = var.project_id
  display_name          = local.names.email_share_alert
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Share of ${var.email_share_alert_event_name} events with an email below ${var.email_share_alert_threshold}"

    condition_threshold {
      filter             = "metric.type = \"${local.metric_type}${google_logging_metric.with_key["em"].name}\" AND resource.type = \"cloud_run_revision\" AND metric.label.event_name = \"${var.email_share_alert_event_name}\""
      denominator_filter = "metric.type = \"${local.metric_type}${google_logging_metric.events[0].name}\" AND resource.type = \"cloud_run_revision\" AND metric.label.outcome = \"processed\" AND metric.label.event_name = \"${var.email_share_alert_event_name}\""
      comparison         = "COMPARISON_LT"
      threshold_value    = var.email_share_alert_threshold
      duration           = "0s"

      aggregations {
        alignment_period     = "${var.email_share_alert_window_minutes * 60}s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "${var.email_share_alert_window_minutes * 60}s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Fewer processed `${var.email_share_alert_event_name}` events carry an email than before. Check the server container's tag still sends `user_data.email_address`, and run the match-quality report (`python -m lib.cli report`) on recent logs to see which keys are missing."
  }

  depends_on = [time_sleep.apis_settle]
}
