# ---------------------------------------------------------------------------------------------
# Where and what to deploy
# ---------------------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project id that hosts every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits or hyphens)."
  }
}

variable "region" {
  description = "Region of the function, its source bucket, its builds repository and (by default) the only region the topics store messages in, e.g. europe-west1."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "name_prefix" {
  description = "Start of every resource name (function <prefix>-forwarder, topic <prefix>-events, ...). Give each instance its own, e.g. one per ad account."
  type        = string
  default     = "pinterest-capi"

  # At most 22 characters: "<prefix>-runtime" must fit a service account id (30).
  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1-22 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "labels" {
  description = "Labels added to the topics, subscriptions, bucket, repository, secret and function."
  type        = map(string)
  default     = {}
}

variable "settle_seconds" {
  description = "Seconds to wait after enabling APIs and after the IAM grants, before the resources that need them (IAM changes take a while to apply everywhere)."
  type        = number
  default     = 60

  validation {
    condition     = var.settle_seconds >= 0 && var.settle_seconds <= 600
    error_message = "settle_seconds must be from 0 to 600."
  }
}

# ---------------------------------------------------------------------------------------------
# Who may publish, who deploys
# ---------------------------------------------------------------------------------------------

variable "server_container_service_accounts" {
  description = "Service accounts of the GTM server container (the tagging server's and the preview server's, which may differ); each gets roles/pubsub.publisher on the events topic only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.server_container_service_accounts : can(regex("^[^@\\s]+@[^@\\s]+\\.gserviceaccount\\.com$", email))])
    error_message = "server_container_service_accounts entries must be service account emails (...gserviceaccount.com)."
  }
}

variable "deployer_members" {
  description = "Principals that run terraform apply without project-wide actAs (e.g. serviceAccount:deployer@P.iam.gserviceaccount.com for Cloud Build); each gets roles/iam.serviceAccountUser on the runtime, push and build accounts only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.deployer_members : can(regex("^(serviceAccount|user|group):[^@\\s]+@[^@\\s]+$", member))])
    error_message = "deployer_members entries must look like serviceAccount:EMAIL, user:EMAIL or group:EMAIL."
  }
}

variable "pubsub_agent_token_creator" {
  description = "Grant the Pub/Sub service agent roles/iam.serviceAccountTokenCreator on the push account. Only projects whose Pub/Sub service agent was created before 8 April 2021 need it to sign the push OIDC token."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------------
# The access token
# ---------------------------------------------------------------------------------------------

variable "pinterest_access_token" {
  description = "PINTEREST_ACCESS_TOKEN, written to the secret as a write-only value (never in the plan or the state) on an apply with write_access_token = true. Pass it as TF_VAR_pinterest_access_token, never in a file."
  type        = string
  default     = null
  ephemeral   = true
  sensitive   = true

  validation {
    condition     = var.pinterest_access_token == null || can(regex("^\\S+$", var.pinterest_access_token))
    error_message = "pinterest_access_token must be the token alone, without spaces or line breaks."
  }
}

variable "write_access_token" {
  description = "Write TF_VAR_pinterest_access_token to the secret as a new version on this apply. Set it on the command line for the first apply and for a rotation only (-var=write_access_token=true), never in the settings file Cloud Build reads."
  type        = bool
  default     = false
}

variable "existing_secret_id" {
  description = "Id of a Secret Manager secret in this project that already holds the token; empty lets this configuration create <prefix>-access-token and write the token itself."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-zA-Z0-9_-]{1,255})?$", var.existing_secret_id))
    error_message = "existing_secret_id must be empty or a secret id (1-255 letters, digits, hyphens or underscores)."
  }
}

variable "secret_version" {
  description = "Version of the secret the function reads: \"latest\" (new instances pick up a rotated token) or a version number to pin."
  type        = string
  default     = "latest"

  validation {
    condition     = can(regex("^(latest|[1-9][0-9]*)$", var.secret_version))
    error_message = "secret_version must be \"latest\" or a positive version number."
  }
}

variable "secret_replica_locations" {
  description = "Regions to keep the secret in; empty lets Google replicate it automatically."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------------------------
# Personal data at rest
# ---------------------------------------------------------------------------------------------

variable "message_storage_regions" {
  description = "Regions the events and dead-letter topics may store messages in (raw events hold emails, phone numbers and IP addresses); empty means the region variable alone."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.message_storage_regions : can(regex("^[a-z]+-[a-z]+[0-9]+$", r))])
    error_message = "message_storage_regions entries must be Google Cloud regions such as europe-west1."
  }
}

variable "topic_kms_key_name" {
  description = "Customer-managed Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts both topics; empty uses Google-managed encryption."
  type        = string
  default     = ""

  validation {
    condition     = var.topic_kms_key_name == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.topic_kms_key_name))
    error_message = "topic_kms_key_name must be empty or projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "topic_kms_key_grant" {
  description = "With topic_kms_key_name: grant the project's Pub/Sub service agent roles/cloudkms.cryptoKeyEncrypterDecrypter on the key. Leave it to one instance when several share a key (destroying one instance would otherwise remove the others' access)."
  type        = bool
  default     = true
}

variable "dead_letter_retention_days" {
  description = "Days the dead-letter subscription keeps parked events for inspection and replay (they hold personal data: keep it short)."
  type        = number
  default     = 7

  validation {
    condition     = var.dead_letter_retention_days >= 1 && var.dead_letter_retention_days <= 31 && floor(var.dead_letter_retention_days) == var.dead_letter_retention_days
    error_message = "dead_letter_retention_days must be a whole number from 1 to 31."
  }
}

# ---------------------------------------------------------------------------------------------
# Builds
# ---------------------------------------------------------------------------------------------

variable "image_keep_count" {
  description = "Newest function images the builds repository always keeps (rollbacks redeploy one of them)."
  type        = number
  default     = 10

  validation {
    condition     = var.image_keep_count >= 1 && var.image_keep_count <= 100 && floor(var.image_keep_count) == var.image_keep_count
    error_message = "image_keep_count must be a whole number from 1 to 100."
  }
}

variable "image_retention_days" {
  description = "Older images than this are deleted from the builds repository, unless among the newest image_keep_count."
  type        = number
  default     = 30

  validation {
    condition     = var.image_retention_days >= 1 && var.image_retention_days <= 3650 && floor(var.image_retention_days) == var.image_retention_days
    error_message = "image_retention_days must be a whole number from 1 to 3650."
  }
}

# ---------------------------------------------------------------------------------------------
# Function sizing
# ---------------------------------------------------------------------------------------------

variable "python_runtime" {
  description = "Cloud Functions Python runtime."
  type        = string
  default     = "python312"

  validation {
    condition     = can(regex("^python3(1[1-9])$", var.python_runtime))
    error_message = "python_runtime must be python311 or newer (e.g. python312)."
  }
}

variable "available_memory" {
  description = "Memory of each instance (Cloud Run quantity, e.g. 512Mi, 1Gi)."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|M|G)$", var.available_memory))
    error_message = "available_memory must be a quantity such as 512Mi or 1Gi."
  }
}

variable "available_cpu" {
  description = "vCPUs of each instance; at least 1, which concurrency above 1 requires."
  type        = string
  default     = "1"

  validation {
    condition     = can(tonumber(var.available_cpu)) && try(tonumber(var.available_cpu) >= 1, false)
    error_message = "available_cpu must be a number of at least 1 (request concurrency above 1 needs a whole vCPU)."
  }
}

variable "max_instance_request_concurrency" {
  description = "Concurrent push requests per instance; events of concurrent pushes are batched together."
  type        = number
  default     = 80

  validation {
    condition     = var.max_instance_request_concurrency >= 1 && var.max_instance_request_concurrency <= 1000
    error_message = "max_instance_request_concurrency must be from 1 to 1000."
  }
}

variable "timeout_seconds" {
  description = "Function timeout; the push subscription's ack deadline must be at least this, and DELIVERY_DEADLINE_SECONDS plus the Pinterest timeouts below it."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout_seconds >= 10 && var.timeout_seconds <= 600
    error_message = "timeout_seconds must be from 10 to 600 (a push request cannot outlive the 600 s ack deadline)."
  }
}

variable "min_instance_count" {
  description = "Instances kept warm (0 scales to zero)."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instance_count >= 0 && var.min_instance_count <= 100
    error_message = "min_instance_count must be from 0 to 100."
  }
}

variable "max_instance_count" {
  description = "Upper bound on instances; Pub/Sub backs off and retries when they are all busy."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instance_count >= 1 && var.max_instance_count <= 1000
    error_message = "max_instance_count must be from 1 to 1000."
  }
}

# ---------------------------------------------------------------------------------------------
# Delivery from Pub/Sub
# ---------------------------------------------------------------------------------------------

variable "ack_deadline_seconds" {
  description = "Push subscription ack deadline, which is also the push request timeout; at least timeout_seconds."
  type        = number
  default     = 600

  validation {
    condition     = var.ack_deadline_seconds >= 10 && var.ack_deadline_seconds <= 600
    error_message = "ack_deadline_seconds must be from 10 to 600."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub moves it to the dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be from 5 to 100."
  }
}

variable "subscription_filter" {
  description = "Optional Pub/Sub filter on message attributes, e.g. attributes.event_name = \"purchase\"; unmatched messages never reach the function. Changing it recreates the subscription."
  type        = string
  default     = ""

  validation {
    condition     = length(var.subscription_filter) <= 256
    error_message = "subscription_filter must be at most 256 characters."
  }
}

# ---------------------------------------------------------------------------------------------
# Metrics, dashboard and alerts
# ---------------------------------------------------------------------------------------------

variable "log_metrics_enabled" {
  description = "Create the log-based metrics (events by outcome, reason and name; match-key coverage; Pinterest requests and latency). Turning them off also drops the dashboard and the email-share alert."
  type        = bool
  default     = true
}

variable "dashboard_enabled" {
  description = "Create the Cloud Monitoring dashboard over those metrics and the dead-letter backlog."
  type        = bool
  default     = true
}

variable "dead_letter_alert_enabled" {
  description = "Create a Cloud Monitoring alert when dead-lettered events wait in the dead-letter subscription."
  type        = bool
  default     = false
}

variable "dead_letter_alert_minutes" {
  description = "Minutes the dead-letter backlog must stay above zero before the alert fires."
  type        = number
  default     = 5

  validation {
    condition     = var.dead_letter_alert_minutes >= 1 && var.dead_letter_alert_minutes <= 1380
    error_message = "dead_letter_alert_minutes must be from 1 to 1380 (23 hours)."
  }
}

variable "email_share_alert_enabled" {
  description = "Create a Cloud Monitoring alert when the share of processed events of email_share_alert_event_name carrying an email falls below email_share_alert_threshold (needs log_metrics_enabled)."
  type        = bool
  default     = false

  validation {
    condition     = !var.email_share_alert_enabled || var.log_metrics_enabled
    error_message = "email_share_alert_enabled needs log_metrics_enabled: the alert reads those metrics."
  }
}

variable "email_share_alert_event_name" {
  description = "Pinterest event name whose email share the alert watches."
  type        = string
  default     = "checkout"

  validation {
    condition     = can(regex("^[a-z_]{1,64}$", var.email_share_alert_event_name))
    error_message = "email_share_alert_event_name must be a Pinterest event name such as checkout or lead."
  }
}

variable "email_share_alert_threshold" {
  description = "Share (0-1) of those events with an email below which the alert fires."
  type        = number
  default     = 0.5

  validation {
    condition     = var.email_share_alert_threshold > 0 && var.email_share_alert_threshold <= 1
    error_message = "email_share_alert_threshold must be above 0 and at most 1."
  }
}

variable "email_share_alert_window_minutes" {
  description = "Minutes of events each email share is computed over."
  type        = number
  default     = 60

  validation {
    condition     = var.email_share_alert_window_minutes >= 5 && var.email_share_alert_window_minutes <= 1380 && floor(var.email_share_alert_window_minutes) == var.email_share_alert_window_minutes
    error_message = "email_share_alert_window_minutes must be a whole number from 5 to 1380 (23 hours)."
  }
}

variable "alert_notification_channels" {
  description = "Notification channel ids (projects/P/notificationChannels/N) for the alerts."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "alert_notification_channels entries must look like projects/PROJECT/notificationChannels/ID."
  }
}

# ---------------------------------------------------------------------------------------------
# Function environment: one variable per environment variable the function reads, named as its
# lowercase. PINTEREST_ACCESS_TOKEN comes from Secret Manager and DEAD_LETTER_TOPIC from the
# dead-letter topic, so neither is a variable.
# ---------------------------------------------------------------------------------------------

variable "pinterest_ad_account_id" {
  description = "PINTEREST_AD_ACCOUNT_ID: the Pinterest ad account that receives the events (digits)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{1,18}$", var.pinterest_ad_account_id))
    error_message = "pinterest_ad_account_id must be the ad account's numeric id (1-18 digits)."
  }
}

variable "pinterest_test_mode" {
  description = "PINTEREST_TEST_MODE: send events with ?test=true, so Pinterest validates them without recording them."
  type        = bool
  default     = false
}

variable "pinterest_api_base_url" {
  description = "PINTEREST_API_BASE_URL: base URL of the Pinterest API (change only for a stand-in)."
  type        = string
  default     = "https://api.pinterest.com/v5"

  validation {
    condition     = can(regex("^https?://[^\\s]+$", var.pinterest_api_base_url))
    error_message = "pinterest_api_base_url must be an http(s) URL."
  }
}

variable "log_mode" {
  description = "LOG_MODE: console (one JSON line per outcome, no personal data) or off."
  type        = string
  default     = "console"

  validation {
    condition     = contains(["console", "off"], var.log_mode)
    error_message = "log_mode must be console or off."
  }
}

variable "event_name_map" {
  description = "EVENT_NAME_MAP: JSON object of extra GA4 -> Pinterest event names, e.g. {\"generate_lead\": \"lead\"}."
  type        = string
  default     = "{}"

  validation {
    condition     = can(keys(jsondecode(var.event_name_map)))
    error_message = "event_name_map must be a JSON object string, e.g. {\"generate_lead\": \"lead\"}."
  }
}

variable "event_name_override" {
  description = "EVENT_NAME_OVERRIDE: send every event under this Pinterest event name; empty maps each event."
  type        = string
  default     = ""
}

variable "unmapped_events" {
  description = "UNMAPPED_EVENTS: what happens to GA4 events with no mapping: custom, passthrough or drop."
  type        = string
  default     = "custom"

  validation {
    condition     = contains(["custom", "passthrough", "drop"], var.unmapped_events)
    error_message = "unmapped_events must be custom, passthrough or drop."
  }
}

variable "forward_events" {
  description = "FORWARD_EVENTS: comma-separated GA4 event names to forward; empty forwards all."
  type        = string
  default     = ""
}

variable "skip_events" {
  description = "SKIP_EVENTS: comma-separated GA4 event names never forwarded."
  type        = string
  default     = ""
}

variable "data_overrides" {
  description = "DATA_OVERRIDES: JSON object of Pinterest parameters to set on every event (\"Override client data\")."
  type        = string
  default     = "{}"

  validation {
    condition     = can(keys(jsondecode(var.data_overrides)))
    error_message = "data_overrides must be a JSON object string."
  }
}

variable "consent_policy" {
  description = "CONSENT_POLICY: respect (drop events without ad consent), opt_out (send them flagged opt_out) or ignore."
  type        = string
  default     = "respect"

  validation {
    condition     = contains(["respect", "opt_out", "ignore"], var.consent_policy)
    error_message = "consent_policy must be respect, opt_out or ignore."
  }
}

variable "external_id_from_user_id" {
  description = "EXTERNAL_ID_FROM_USER_ID: hash the GA4 user_id into Pinterest's external_id."
  type        = bool
  default     = true
}

variable "default_action_source" {
  description = "DEFAULT_ACTION_SOURCE: action_source for events that do not say: web, app_android, app_ios or offline."
  type        = string
  default     = "web"

  validation {
    condition     = contains(["web", "app_android", "app_ios", "offline"], var.default_action_source)
    error_message = "default_action_source must be web, app_android, app_ios or offline."
  }
}

variable "default_country" {
  description = "DEFAULT_COUNTRY: two-letter ISO-3166 country assumed for phone numbers and addresses; empty for none."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([A-Za-z]{2})?$", var.default_country))
    error_message = "default_country must be empty or a two-letter country code such as US."
  }
}

variable "partner_name" {
  description = "PARTNER_NAME: partner_name sent with every event; empty for none."
  type        = string
  default     = ""
}

variable "max_event_age_days" {
  description = "MAX_EVENT_AGE_DAYS: events older than this are dead-lettered instead of sent."
  type        = number
  default     = 7

  validation {
    condition     = var.max_event_age_days >= 1 && var.max_event_age_days <= 90 && floor(var.max_event_age_days) == var.max_event_age_days
    error_message = "max_event_age_days must be a whole number from 1 to 90."
  }
}

variable "max_message_bytes" {
  description = "MAX_MESSAGE_BYTES: larger Pub/Sub messages are dead-lettered unread."
  type        = number
  default     = 1000000

  validation {
    condition     = var.max_message_bytes >= 1000 && var.max_message_bytes <= 10000000 && floor(var.max_message_bytes) == var.max_message_bytes
    error_message = "max_message_bytes must be a whole number from 1000 to 10000000."
  }
}

variable "pinterest_connect_timeout_seconds" {
  description = "PINTEREST_CONNECT_TIMEOUT_SECONDS: connect timeout of one Pinterest request."
  type        = number
  default     = 5

  validation {
    condition     = var.pinterest_connect_timeout_seconds >= 0.1 && var.pinterest_connect_timeout_seconds <= 60
    error_message = "pinterest_connect_timeout_seconds must be from 0.1 to 60."
  }
}

variable "pinterest_read_timeout_seconds" {
  description = "PINTEREST_READ_TIMEOUT_SECONDS: read timeout of one Pinterest request."
  type        = number
  default     = 15

  validation {
    condition     = var.pinterest_read_timeout_seconds >= 0.1 && var.pinterest_read_timeout_seconds <= 300
    error_message = "pinterest_read_timeout_seconds must be from 0.1 to 300."
  }
}

variable "delivery_deadline_seconds" {
  description = "DELIVERY_DEADLINE_SECONDS: no retry to Pinterest starts after this; plus the connect and read timeouts it must stay below timeout_seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.delivery_deadline_seconds >= 1 && var.delivery_deadline_seconds <= 3600
    error_message = "delivery_deadline_seconds must be from 1 to 3600."
  }
}

variable "batch_window_ms" {
  description = "BATCH_WINDOW_MS: how long an instance gathers events of concurrent pushes into one Pinterest request."
  type        = number
  default     = 50

  validation {
    condition     = var.batch_window_ms >= 0 && var.batch_window_ms <= 5000 && floor(var.batch_window_ms) == var.batch_window_ms
    error_message = "batch_window_ms must be a whole number from 0 to 5000."
  }
}

variable "batch_max_events" {
  description = "BATCH_MAX_EVENTS: most events in one Pinterest request (Pinterest accepts up to 1000)."
  type        = number
  default     = 1000

  validation {
    condition     = var.batch_max_events >= 1 && var.batch_max_events <= 1000 && floor(var.batch_max_events) == var.batch_max_events
    error_message = "batch_max_events must be a whole number from 1 to 1000."
  }
}
