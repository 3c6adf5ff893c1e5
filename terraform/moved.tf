# Addresses that changed since earlier versions of this configuration, so an existing deployment
# keeps its resources instead of replacing them.

# The secret became optional (existing_secret_id).
moved {
  from = google_secret_manager_secret.pinterest
  to   = google_secret_manager_secret.pinterest[0]
}

# The token-creator grant became optional (pubsub_agent_token_creator): projects that need it set
# the variable and keep the grant they have.
moved {
  from = google_service_account_iam_member.pubsub_agent_token_creator
  to   = google_service_account_iam_member.pubsub_agent_token_creator[0]
}
