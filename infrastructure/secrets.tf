# The two secrets the pipeline has. VMs read them from Secret Manager at boot;
# they are never in instance metadata.

locals {
  # for_each may not take sensitive values, so it goes over the names.
  secret_names = toset(["smtp-password", "confirmation-token-key"])
  secret_values = {
    smtp-password          = var.smtp_password
    confirmation-token-key = var.confirmation_token_key
  }
}

resource "google_secret_manager_secret" "secrets" {
  for_each  = local.secret_names
  secret_id = "${var.prefix}-${each.key}"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "secrets" {
  for_each    = local.secret_names
  secret      = google_secret_manager_secret.secrets[each.key].id
  secret_data = local.secret_values[each.key]
}
