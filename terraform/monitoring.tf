# Optional alert: dead-lettered events are waiting for someone to look at them (and replay them).

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  count = var.dead_letter_alert_enabled ? 1 : 0

  project               = var.project_id
  display_name          = "Pinterest CAPI forwarder: dead-lettered events waiting"
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
    content   = "Events were dead-lettered: Pinterest rejected them or every delivery attempt failed. Pull a few from subscription `${google_pubsub_subscription.dead_letter.name}` to read their `reason` attribute, fix the cause, then replay them to the events topic (see docs/deploy.md)."
  }

  depends_on = [google_project_service.apis]
}
