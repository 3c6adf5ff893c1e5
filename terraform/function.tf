# The function: its source archive (named by its hash, so every code change redeploys), the
# repository its images are built into, the secret that holds the access token, and the 2nd gen
# function with internal ingress and concurrency.

locals {
  source_root = "${path.module}/.."
  # What the function runs: main.py, requirements.txt and lib/, without the operator commands
  # (lib/cli.py, lib/commands/), which the function never imports. scripts/deploy_gcloud.sh stages
  # the same files, and tests/test_terraform.py checks that main.py's imports stay inside them.
  source_includes = ["main.py", "requirements.txt", "lib/**/*.py"]
  source_excludes = ["lib/cli.py", "lib/commands/**"]
  source_files = sort(setsubtract(
    flatten([for pattern in local.source_includes : tolist(fileset(local.source_root, pattern))]),
    flatten([for pattern in local.source_excludes : tolist(fileset(local.source_root, pattern))]),
  ))

  manage_secret = var.existing_secret_id == ""
  secret_id     = local.manage_secret ? google_secret_manager_secret.pinterest[0].secret_id : var.existing_secret_id
}

data "archive_file" "source" {
  type             = "zip"
  output_path      = local.names.source_archive
  output_file_mode = "0644"

  dynamic "source" {
    for_each = local.source_files
    content {
      filename = source.value
      content  = file("${local.source_root}/${source.value}")
    }
  }
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only the function's source archives, no event data; access logging is left to the organisation's audit-log policy.
  project  = var.project_id
  name     = local.names.source_bucket
  location = var.region
  labels   = local.labels

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  # Replaced archives stay 90 days (a rollback re-uploads the same hash-named object anyway).
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis_settle]
}

resource "google_storage_bucket_object" "source" {
  name   = "source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# The function's images (and the build cache) go here rather than into the shared gcf-artifacts
# repository, so the build account can be granted write access on this repository alone.
resource "google_artifact_registry_repository" "builds" {
  #checkov:skip=CKV_GCP_84:Holds only images built from this repository's code, no event data; Google-managed encryption.
  project       = var.project_id
  location      = var.region
  repository_id = local.names.repository
  format        = "DOCKER"
  description   = "Images of the ${local.names.function} function, built by Cloud Build."
  labels        = local.labels

  # The newest images are always kept (a rollback redeploys one of them); older ones are deleted.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_keep_count
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "${var.image_retention_days * 86400}s"
    }
  }

  depends_on = [time_sleep.apis_settle]
}

# The secret; the apply that creates it can also write the token into it as a write-only value,
# which never reaches the plan or the state. Set existing_secret_id to use a secret kept elsewhere.
resource "google_secret_manager_secret" "pinterest" {
  count = local.manage_secret ? 1 : 0

  project   = var.project_id
  secret_id = local.names.secret
  labels    = local.labels

  # `auto` is the 5.0+ name of automatic replication.
  replication {
    dynamic "auto" {
      for_each = length(var.secret_replica_locations) == 0 ? [1] : []
      content {}
    }

    dynamic "user_managed" {
      for_each = length(var.secret_replica_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = var.secret_replica_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  # Destroying the stack must not take the token with it (docs/deploy.md, "Removing everything").
  lifecycle {
    prevent_destroy = true
  }

  depends_on = [time_sleep.apis_settle]
}

# The token itself, written only on an apply run with write_access_token = true and
# TF_VAR_pinterest_access_token set. Every other run (Cloud Build's too) leaves the resource out,
# because provider 7.42+ refuses a version without data at plan time; ABANDON makes dropping it
# from the configuration forget it without touching the secret, so the token stays in place.
resource "google_secret_manager_secret_version" "token" {
  count = local.manage_secret && var.write_access_token ? 1 : 0

  secret         = google_secret_manager_secret.pinterest[0].id
  secret_data_wo = var.pinterest_access_token
  # Write-only data is sent when this number changes: a new one on every writing apply.
  secret_data_wo_version = parseint(formatdate("YYYYMMDDhhmmss", plantimestamp()), 10)
  deletion_policy        = "ABANDON"

  lifecycle {
    precondition {
      condition     = var.pinterest_access_token != null
      error_message = "write_access_token is true but TF_VAR_pinterest_access_token is not set: export the token first (docs/deploy.md)."
    }
  }
}

resource "google_cloudfunctions2_function" "forwarder" {
  project     = var.project_id
  name        = local.names.function
  location    = var.region
  description = "Forwards GA4 events from Pub/Sub to the Pinterest Conversions API."
  labels      = local.labels

  build_config {
    runtime           = var.python_runtime
    entry_point       = "handle_pubsub"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.builds.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  # No event_trigger: the push subscription in pubsub.tf delivers the messages (see there why).
  service_config {
    service_account_email          = google_service_account.runtime.email
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true

    available_memory                 = var.available_memory
    available_cpu                    = var.available_cpu
    max_instance_request_concurrency = var.max_instance_request_concurrency
    timeout_seconds                  = var.timeout_seconds
    min_instance_count               = var.min_instance_count
    max_instance_count               = var.max_instance_count

    # Environment values are strings: bools become "true"/"false", numbers their decimal form.
    environment_variables = {
      PINTEREST_AD_ACCOUNT_ID           = var.pinterest_ad_account_id
      PINTEREST_TEST_MODE               = tostring(var.pinterest_test_mode)
      PINTEREST_API_BASE_URL            = var.pinterest_api_base_url
      LOG_MODE                          = var.log_mode
      EVENT_NAME_MAP                    = var.event_name_map
      EVENT_NAME_OVERRIDE               = var.event_name_override
      UNMAPPED_EVENTS                   = var.unmapped_events
      FORWARD_EVENTS                    = var.forward_events
      SKIP_EVENTS                       = var.skip_events
      DATA_OVERRIDES                    = var.data_overrides
      CONSENT_POLICY                    = var.consent_policy
      EXTERNAL_ID_FROM_USER_ID          = tostring(var.external_id_from_user_id)
      DEFAULT_ACTION_SOURCE             = var.default_action_source
      DEFAULT_COUNTRY                   = var.default_country
      PARTNER_NAME                      = var.partner_name
      MAX_EVENT_AGE_DAYS                = tostring(var.max_event_age_days)
      MAX_MESSAGE_BYTES                 = tostring(var.max_message_bytes)
      DEAD_LETTER_TOPIC                 = google_pubsub_topic.dead_letter.id
      PINTEREST_CONNECT_TIMEOUT_SECONDS = tostring(var.pinterest_connect_timeout_seconds)
      PINTEREST_READ_TIMEOUT_SECONDS    = tostring(var.pinterest_read_timeout_seconds)
      DELIVERY_DEADLINE_SECONDS         = tostring(var.delivery_deadline_seconds)
      BATCH_WINDOW_MS                   = tostring(var.batch_window_ms)
      BATCH_MAX_EVENTS                  = tostring(var.batch_max_events)
      # functions-framework's gunicorn serves THREADS requests at once (default: 4 per CPU).
      # As many as the platform sends: each push has a thread the moment it arrives, so the
      # batcher sees it and all pushes in flight can share Pinterest requests. Fewer would queue
      # pushes unseen inside gunicorn and cap a batch at THREADS pushes; more would never be used.
      THREADS = tostring(var.max_instance_request_concurrency)
      # Lets log lines name their trace (projects/P/traces/T) for Cloud Logging.
      GOOGLE_CLOUD_PROJECT = var.project_id
    }

    # The token reaches the function from Secret Manager only.
    secret_environment_variables {
      key        = "PINTEREST_ACCESS_TOKEN"
      project_id = var.project_id
      secret     = local.secret_id
      version    = var.secret_version
    }
  }

  lifecycle {
    # The last attempt may start just before the delivery deadline and run for both timeouts.
    precondition {
      condition     = var.delivery_deadline_seconds + var.pinterest_connect_timeout_seconds + var.pinterest_read_timeout_seconds < var.timeout_seconds
      error_message = "delivery_deadline_seconds + pinterest_connect_timeout_seconds + pinterest_read_timeout_seconds must be below timeout_seconds, so a push is answered before the platform cuts it off."
    }
  }

  # The first revision needs the token's version, and every grant it relies on settled: the build
  # account's (else the build fails), the runtime account's secret access (else it cannot start)
  # and the deployer's right to act as both accounts.
  depends_on = [
    google_secret_manager_secret_version.token,
    time_sleep.iam_settle,
  ]
}
