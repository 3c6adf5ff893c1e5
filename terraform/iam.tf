# Identities and the only grants this stack makes, each on a single resource except the two a
# build cannot do without at project level (Cloud Build writes its logs to the project, and the
# bucket Cloud Functions copies the source into is created by the first deployment):
#   runtime SA          secret accessor on the token secret; publisher on the dead-letter topic
#   push SA             run.invoker on the function's Cloud Run service
#   build SA            log writer (project); writer on the builds repository; object viewer on
#                       the gcf-v2-sources bucket only (project grant with a condition)
#   Pub/Sub agent       publisher on the dead-letter topic; subscriber on the push subscription;
#                       token creator on the push SA (older projects only); key user (CMEK only)
#   server containers   publisher on the events topic
#   deployers           service account user on the runtime, push and build SAs only

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = local.names.runtime_account
  display_name = "Pinterest CAPI forwarder ${var.name_prefix} (runtime)"
  description  = "Runs the function: reads the access token secret and publishes rejected events to the dead-letter topic."

  depends_on = [time_sleep.apis_settle]
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = local.names.push_account
  display_name = "Pinterest CAPI forwarder ${var.name_prefix} (Pub/Sub push)"
  description  = "Identity in the OIDC token of the push subscription; may invoke the function only."

  depends_on = [time_sleep.apis_settle]
}

# Since mid-2024 gen2 builds in new projects run as the Compute Engine default account, which has
# no roles in secure-by-default organisations; this account holds exactly what a build needs.
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = local.names.build_account
  display_name = "Pinterest CAPI forwarder ${var.name_prefix} (build)"
  description  = "Cloud Build runs the function's builds as this account: logs, the builds repository, the copied source."

  depends_on = [time_sleep.apis_settle]
}

resource "google_secret_manager_secret_iam_member" "runtime_secret_accessor" {
  project   = var.project_id
  secret_id = local.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}

resource "google_pubsub_topic_iam_member" "runtime_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.runtime.member
}

# Build logs go to the project's log buckets; the role exists at project level only.
resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_repository_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.builds.location
  repository = google_artifact_registry_repository.builds.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# The build fetches the source from the copy Cloud Functions makes in gcf-v2-sources-NUMBER-REGION
# (with a key-hash suffix under CMEK), a bucket that does not exist before the first deployment,
# so the grant is on the project, limited by a condition to that bucket and its objects.
resource "google_project_iam_member" "build_source_reader" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title       = "${var.name_prefix}-function-sources"
    description = "Only the bucket Cloud Functions copies ${var.region} function sources into."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${data.google_project.this.number}-${var.region}\")"
  }
}

# A 2nd gen function is served by a Cloud Run service of the same name, and invoking it is
# checked there: roles/cloudfunctions.invoker on the function does not admit the push request.
resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  project  = var.project_id
  location = google_cloudfunctions2_function.forwarder.location
  name     = google_cloudfunctions2_function.forwarder.name
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# Only projects whose Pub/Sub service agent predates 8 April 2021 need this to mint the push
# OIDC token; newer service agents can already do it.
resource "google_service_account_iam_member" "pubsub_agent_token_creator" {
  count = var.pubsub_agent_token_creator ? 1 : 0

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

# Pub/Sub encrypts and decrypts the topics' messages with the customer-managed key as its agent.
resource "google_kms_crypto_key_iam_member" "pubsub_agent_topic_key" {
  count = var.topic_kms_key_name != "" && var.topic_kms_key_grant ? 1 : 0

  crypto_key_id = var.topic_kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_service_agent

  depends_on = [time_sleep.apis_settle]
}

# The tagging server's and the preview server's accounts (they may differ) publish the events.
resource "google_pubsub_topic_iam_member" "server_container_publisher" {
  for_each = toset(var.server_container_service_accounts)

  project = var.project_id
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${each.value}"
}

# Deploying the function needs actAs on its runtime and build accounts, creating the push
# subscription actAs on the push account: granted here on those three alone, never project-wide.
locals {
  deployer_account_grants = {
    for pair in setproduct(var.deployer_members, ["runtime", "push", "build"]) :
    "${pair[1]} ${pair[0]}" => { member = pair[0], account = pair[1] }
  }
  deployable_accounts = {
    runtime = google_service_account.runtime.name
    push    = google_service_account.push.name
    build   = google_service_account.build.name
  }
}

resource "google_service_account_iam_member" "deployer_account_user" {
  for_each = local.deployer_account_grants

  service_account_id = local.deployable_accounts[each.value.account]
  role               = "roles/iam.serviceAccountUser"
  member             = each.value.member
}

# IAM changes take up to a few minutes to apply everywhere; the provider's own build-account
# example waits like this before the function's first build.
resource "time_sleep" "iam_settle" {
  create_duration = "${var.settle_seconds}s"
  triggers = {
    build_account   = google_service_account.build.email
    runtime_account = google_service_account.runtime.email
    secret          = local.secret_id
    deployers       = join(",", sort(var.deployer_members))
  }

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_source_reader,
    google_artifact_registry_repository_iam_member.build_repository_writer,
    google_secret_manager_secret_iam_member.runtime_secret_accessor,
    google_service_account_iam_member.deployer_account_user,
  ]
}
