# Project data, APIs and the names derived from variables.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  source_bucket_name = var.source_bucket_name != "" ? var.source_bucket_name : "${var.project_id}-pinterest-capi-source"

  # Pub/Sub's service agent mints the push OIDC token and moves messages to the dead-letter topic.
  # (google_project_service_identity would name it, but only in the beta provider.)
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  labels = merge({ app = "pinterest-capi-forwarder" }, var.labels)

  required_apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
  alert_apis = var.dead_letter_alert_enabled ? ["monitoring.googleapis.com"] : []
}

resource "google_project_service" "apis" {
  for_each = toset(concat(local.required_apis, local.alert_apis))

  project = var.project_id
  service = each.value
  # Destroying this stack must not switch off APIs other workloads of the project may use.
  disable_on_destroy = false
}
