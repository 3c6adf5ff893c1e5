terraform {
  # 1.11: write-only arguments (secret_data_wo) fed from an ephemeral variable.
  # cloudbuild.yaml pins the exact Terraform image it runs.
  required_version = ">= 1.11"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.23.0 added secret_data_wo to google_secret_manager_secret_version; every other argument
      # used here exists from then on through 7.x. 8.0 is a breaking release: check its upgrade
      # guide before widening this.
      version = ">= 6.23, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.9, < 1.0"
    }
  }
}

# No provider block: every resource names its project and location, so this directory works both
# as a root configuration and as a module called several times (see examples/two-instances).
