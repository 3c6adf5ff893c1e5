# Project data, the names every resource takes (all from name_prefix, so two instances side by
# side never collide), the APIs, and the waits that make a first apply in a new project work.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Each name is the prefix plus a suffix; within one kind of resource no suffix ends with another,
  # so two different prefixes can never produce the same name (tests/test_terraform.py checks it).
  names = {
    function                 = "${var.name_prefix}-forwarder"
    events_topic             = "${var.name_prefix}-events"
    push_subscription        = "${var.name_prefix}-forwarder-push"
    dead_letter_topic        = "${var.name_prefix}-dead-letter"
    dead_letter_subscription = "${var.name_prefix}-dead-letter-pull"
    secret                   = "${var.name_prefix}-access-token"
    runtime_account          = "${var.name_prefix}-runtime"
    push_account             = "${var.name_prefix}-push"
    build_account            = "${var.name_prefix}-build"
    source_bucket            = "${var.project_id}-${var.name_prefix}-source"
    source_archive           = "${path.module}/build/${var.name_prefix}-source.zip"
    repository               = "${var.name_prefix}-builds"
    metric_prefix            = "${var.name_prefix}-"
    dashboard                = "Pinterest CAPI forwarder (${var.name_prefix})"
    dead_letter_alert        = "Pinterest CAPI forwarder (${var.name_prefix}): dead-lettered events waiting"
    email_share_alert        = "Pinterest CAPI forwarder (${var.name_prefix}): email share falling"
  }

  # Pub/Sub's service agent mints the push OIDC token and moves messages to the dead-letter topic.
  # (google_project_service_identity would name it, but only in the beta provider.)
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  labels = merge({ app = "pinterest-capi-forwarder", instance = var.name_prefix }, var.labels)

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
  monitoring_used = var.log_metrics_enabled || var.dead_letter_alert_enabled
  monitoring_apis = local.monitoring_used ? ["monitoring.googleapis.com"] : []
  kms_apis        = var.topic_kms_key_name != "" ? ["cloudkms.googleapis.com"] : []
  apis            = sort(concat(local.required_apis, local.monitoring_apis, local.kms_apis))
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)

  project = var.project_id
  service = each.value
  # Destroying this stack must not switch off APIs other workloads of the project may use.
  disable_on_destroy = false
}

# An API answers "has not been used in project ... or it is disabled" for a while after it is
# switched on. Everything that calls one waits here (again whenever the set of APIs changes).
resource "time_sleep" "apis_settle" {
  create_duration = "${var.settle_seconds}s"
  triggers = {
    apis = join(",", local.apis)
  }

  depends_on = [google_project_service.apis]
}
