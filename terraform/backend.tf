# State lives in a GCS bucket chosen at init time (partial configuration), e.g.
#   terraform init -backend-config=bucket=MY_STATE_BUCKET -backend-config=prefix=pinterest-capi
# For a throw-away local state, see docs/deploy.md ("State").
terraform {
  backend "gcs" {}
}
