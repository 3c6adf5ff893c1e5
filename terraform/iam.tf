# Identities and the only grants this stack makes, each on a single resource (never the project):
#   runtime SA          secret accessor on the token secret; publisher on the dead-letter topic
#   push SA             run.invoker on the function's Cloud Run service
#   Pub/Sub agent       token creator on the push SA; publisher on the dead-letter topic;
#                       subscriber on the push subscription (to acknowledge dead-lettered messages)
#   server container SA publisher on the events topic (optional)

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = var.runtime_service_account_id
  display_name = "Pinterest CAPI forwarder (runtime)"
  description  = "Runs the function: reads the access token secret and publishes rejected events to the dead-letter topic."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = var.push_service_account_id
  display_name = "Pinterest CAPI forwarder (Pub/Sub push)"
  description  = "Identity in the OIDC token of the push subscription; may invoke the function only."

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "runtime_secret_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.pinterest.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}

resource "google_pubsub_topic_iam_member" "runtime_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.runtime.member
}

# A 2nd gen function is served by a Cloud Run service of the same name, and invoking it is
# checked there: roles/cloudfunctions.invoker on the function does not admit the push request.
# (Provider docs: cloud_run_v2_service_iam, and the "Cloudfunctions2 Scheduler Auth" example.)
resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  project  = var.project_id
  location = google_cloudfunctions2_function.forwarder.location
  name     = google_cloudfunctions2_function.forwarder.name
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

resource "google_service_account_iam_member" "pubsub_agent_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_push_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "sgtm_events_publisher" {
  count = var.sgtm_service_account_email != "" ? 1 : 0

  project = var.project_id
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.sgtm_service_account_email}"
}
