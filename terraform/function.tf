# The function: its source archive (named by its hash, so every code change redeploys), the
# secret that holds the access token (created empty: the token never passes through Terraform),
# and the 2nd gen function with internal ingress and concurrency.

locals {
  source_root = "${path.module}/.."
  # Only what the function needs: main.py, lib/ and requirements.txt, without bytecode caches
  # (`file` reads text, so lib/ holds text files only).
  source_files = concat(
    ["main.py", "requirements.txt"],
    sort([
      for f in fileset(local.source_root, "lib/**") : f
      if !strcontains(f, "__pycache__") && !endswith(f, ".pyc")
    ]),
  )
}

data "archive_file" "source" {
  type             = "zip"
  output_path      = "${path.module}/build/source.zip"
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
  name     = local.source_bucket_name
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

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  name   = "source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

resource "google_secret_manager_secret" "pinterest" {
  project   = var.project_id
  secret_id = var.pinterest_secret_id
  labels    = local.labels

  # `auto` is the 5.0+ name of automatic replication (provider's Secret Manager secret definition).
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

  depends_on = [google_project_service.apis]
}

resource "google_cloudfunctions2_function" "forwarder" {
  project     = var.project_id
  name        = var.function_name
  location    = var.region
  description = "Forwards GA4 events from Pub/Sub to the Pinterest Conversions API."
  labels      = local.labels

  build_config {
    runtime         = var.python_runtime
    entry_point     = "handle_pubsub"
    service_account = var.build_service_account_email != "" ? "projects/${var.project_id}/serviceAccounts/${var.build_service_account_email}" : null

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
      # functions-framework's gunicorn serves THREADS requests at once (default: 4 per CPU);
      # match the platform's concurrency so concurrent pushes can share Pinterest requests.
      THREADS = tostring(var.max_instance_request_concurrency)
      # Lets log lines name their trace (projects/P/traces/T) for Cloud Logging.
      GOOGLE_CLOUD_PROJECT = var.project_id
    }

    # The token reaches the function from Secret Manager only; Terraform state never holds it.
    secret_environment_variables {
      key        = "PINTEREST_ACCESS_TOKEN"
      project_id = var.project_id
      secret     = google_secret_manager_secret.pinterest.secret_id
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

  # The runtime account must be able to read the secret when the first revision starts.
  depends_on = [google_secret_manager_secret_iam_member.runtime_secret_accessor]
}
