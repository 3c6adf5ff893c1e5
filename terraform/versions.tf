terraform {
  # 1.5 for `strcontains`; cloudbuild.yaml pins the exact Terraform image it runs.
  required_version = ">= 1.5"

  required_providers {
    google = {
      source = "hashicorp/google"
      # Every argument used here exists in the 6.x and 7.x series (checked against the 7.0.0
      # upgrade guide: only `service_config.service` became output-only, and it is not set here).
      version = ">= 6.0, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
