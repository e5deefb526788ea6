# Every secret of the deployment lives in Secret Manager. VMs read the ones
# they need at boot (local.secret_readers says which); no secret is ever in
# instance metadata.
#
# Kafka passwords: one SCRAM principal per service, the administrator, Kafka
# UI's own principal and its login form. Each is derived from
# kafka_password_seed (SHA-256 of the seed and the principal's name), so they
# need no extra provider and stay the same from one apply to the next; knowing
# one does not give away the seed or any other.

locals {
  # Kafka principals of the services and of Kafka UI (fraudstream.topology.kafka_principals).
  kafka_principals = ["producer", "fraud-consumer", "non-fraud-consumer", "cases-consumer", "confirmation-service", "kafka-ui"]
  kafka_secrets    = { for name in concat(["admin"], local.kafka_principals) : name => "kafka-${name}" }

  # for_each may not take sensitive values, so it goes over the names.
  secret_names = toset(concat(
    ["smtp-password", "confirmation-token-key", "kafka-ui-login", "cases-database-url"],
    values(local.kafka_secrets)
  ))
  secret_values = merge(
    {
      smtp-password          = var.smtp_password
      confirmation-token-key = var.confirmation_token_key
      kafka-ui-login         = sha256("${var.kafka_password_seed}/kafka-ui-login")
      cases-database-url     = local.cases_database_url
    },
    { for name, secret in local.kafka_secrets : secret => sha256("${var.kafka_password_seed}/${name}") },
  )

  # Which role's VMs read which secret. The producer VM runs `fraudstream setup`,
  # which makes every principal: it alone holds the administrator's password and
  # the services'. The VM that faces the internet holds only its own two logins.
  secret_readers = {
    kafka              = ["kafka-admin", "kafka-kafka-ui", "kafka-ui-login"]
    producer           = values(local.kafka_secrets)
    fraud-consumer     = ["smtp-password", "confirmation-token-key", "kafka-fraud-consumer", "kafka-cases-consumer", "cases-database-url"]
    non-fraud-consumer = ["smtp-password", "confirmation-token-key", "kafka-non-fraud-consumer", "kafka-confirmation-service"]
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

resource "google_secret_manager_secret_iam_member" "readers" {
  for_each = merge([for role, secrets in local.secret_readers :
    { for secret in secrets : "${role} ${secret}" => { role = role, secret = secret } }
  ]...)
  secret_id = google_secret_manager_secret.secrets[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.roles[each.value.role].member
}
