# Two forwarders side by side in one project, one per Pinterest ad account (e.g. an agency's two
# clients). Each instance has its own name_prefix, so no name collides; they share the project's
# APIs. Run from this directory: terraform init, then the first time (and to rotate the tokens)
#   TF_VAR_brand_a_token=... TF_VAR_brand_b_token=... terraform apply -var=write_tokens=true
# and plain `terraform apply` otherwise. Terraform warns that the module's backend block is
# ignored: the state of this configuration lives wherever this directory's backend says.

variable "project_id" {
  description = "Project that hosts both instances."
  type        = string
}

variable "brand_a_token" {
  description = "Access token of brand A's ad account (first apply only)."
  type        = string
  default     = null
  ephemeral   = true
  sensitive   = true
}

variable "brand_b_token" {
  description = "Access token of brand B's ad account (first apply only)."
  type        = string
  default     = null
  ephemeral   = true
  sensitive   = true
}

variable "write_tokens" {
  description = "Write both tokens to their secrets on this apply."
  type        = bool
  default     = false
}

module "brand_a" {
  source = "../.."

  project_id                        = var.project_id
  region                            = "europe-west1"
  name_prefix                       = "capi-brand-a"
  pinterest_ad_account_id           = "549755885175"
  pinterest_access_token            = var.brand_a_token
  write_access_token                = var.write_tokens
  server_container_service_accounts = ["sgtm-brand-a@${var.project_id}.iam.gserviceaccount.com"]
}

module "brand_b" {
  source = "../.."

  project_id                        = var.project_id
  region                            = "europe-west1"
  name_prefix                       = "capi-brand-b"
  pinterest_ad_account_id           = "549755885176"
  pinterest_access_token            = var.brand_b_token
  write_access_token                = var.write_tokens
  server_container_service_accounts = ["sgtm-brand-b@${var.project_id}.iam.gserviceaccount.com"]
  # Brand B's events arrive in test mode until its tag is checked.
  pinterest_test_mode = true
}

output "events_topics" {
  description = "Topic each server container publishes to."
  value = {
    brand_a = module.brand_a.events_topic_id
    brand_b = module.brand_b.events_topic_id
  }
}
