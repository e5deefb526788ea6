# The two secrets the pipeline has. VMs read them from Secret Manager at boot;
# they are never in instance metadata.

resource "google_secret_manager_secret" "smtp_password" {
  secret_id = "${var.prefix}-smtp-password"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "smtp_password" {
  secret      = google_secret_manager_secret.smtp_password.id
  secret_data = var.smtp_password
}

resource "google_secret_manager_secret" "token_key" {
  secret_id = "${var.prefix}-confirmation-token-key"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "token_key" {
  secret      = google_secret_manager_secret.token_key.id
  secret_data = var.confirmation_token_key
}
