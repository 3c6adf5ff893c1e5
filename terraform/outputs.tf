output "events_topic_id" {
  description = "Topic the server container publishes to (projects/P/topics/T)."
  value       = google_pubsub_topic.events.id
}

output "events_topic_name" {
  description = "Short name of the events topic, as the server container's publish tag asks for it."
  value       = google_pubsub_topic.events.name
}

output "function_uri" {
  description = "URL of the function's Cloud Run service: the push endpoint and OIDC audience (reachable only from inside Google Cloud)."
  value       = google_cloudfunctions2_function.forwarder.service_config[0].uri
}

output "function_name" {
  description = "Name of the function and of its Cloud Run service."
  value       = google_cloudfunctions2_function.forwarder.name
}

output "push_subscription_id" {
  description = "Push subscription that delivers events to the function."
  value       = google_pubsub_subscription.push.id
}

output "dead_letter_topic_id" {
  description = "Dead-letter topic (the function's DEAD_LETTER_TOPIC)."
  value       = google_pubsub_topic.dead_letter.id
}

output "dead_letter_subscription_id" {
  description = "Pull subscription that keeps dead-lettered events for inspection and replay."
  value       = google_pubsub_subscription.dead_letter.id
}

output "secret_id" {
  description = "Secret Manager secret the function reads the access token from."
  value       = local.secret_id
}

output "runtime_service_account_email" {
  description = "Service account the function runs as."
  value       = google_service_account.runtime.email
}

output "push_service_account_email" {
  description = "Service account in the push subscription's OIDC token."
  value       = google_service_account.push.email
}

output "build_service_account_email" {
  description = "Service account Cloud Build builds the function as."
  value       = google_service_account.build.email
}

output "source_object" {
  description = "Source archive the function was built from (gs://bucket/object), for rollback."
  value       = "gs://${google_storage_bucket.source.name}/${google_storage_bucket_object.source.name}"
}

output "dashboard_id" {
  description = "Cloud Monitoring dashboard of events, match-key coverage, Pinterest requests and the dead-letter backlog (null when turned off)."
  value       = one(google_monitoring_dashboard.forwarder[*].id)
}
