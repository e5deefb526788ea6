# Every secret of the deployment lives in Secret Manager. VMs read the ones
# they need at boot (local.secret_readers says which); no secret is ever in
# instance metadata.
#
# Each secret is a value of its own, drawn at random by `make secrets`
# (scripts/deployment_secrets.py) into a git-ignored file, so that one leak
# unlocks nothing else and each can be rotated alone (docs/secrets.md).
# Kafka: one SCRAM principal per service, the administrator, Kafka UI's own
# principal and its login form. The schema registry: a login that may
# register schemas (setup's) and one that may only read them (the services').

locals {
  # Kafka principals of the services and of Kafka UI (fraudstream.topology.kafka_principals).
  kafka_principals = ["producer", "fraud-consumer", "non-fraud-consumer", "cases-consumer", "confirmation-service", "schema-registry", "lag-watcher", "kafka-ui"]
  kafka_secrets    = { for name in concat(["admin"], local.kafka_principals) : name => "kafka-${name}" }
  # The registry's logins, as "user:password" (HTTP basic authentication).
  registry_secrets = { setup = "registry-setup-login", services = "registry-services-login" }

  # for_each may not take sensitive values, so it goes over the names.
  secret_names = toset(concat(
    ["smtp-password", "confirmation-token-key", "consumer-note-key", "kafka-ui-login", "cases-database-url"],
    values(local.kafka_secrets), values(local.registry_secrets),
  ))
  secret_values = merge(
    {
      smtp-password          = var.smtp_password
      confirmation-token-key = var.confirmation_token_key
      consumer-note-key      = var.consumer_note_key
      kafka-ui-login         = var.kafka_ui_login_password
      cases-database-url     = local.cases_database_url
    },
    { for name, secret in local.kafka_secrets : secret => lookup(var.kafka_passwords, name, "") },
    { for user, secret in local.registry_secrets : secret => "${user}:${lookup(var.registry_passwords, user, "")}" },
  )

  # Which role's VMs read which secret. The producer VM runs `fraudstream setup`,
  # which makes every principal and registers the schemas: it alone holds the
  # administrator's password, the services' and the registry's setup login. The
  # VM that faces the internet holds only its token key and its two logins.
  registry_readers = ["registry-services-login"]
  secret_readers = {
    kafka              = ["kafka-admin", "kafka-schema-registry", "kafka-kafka-ui", "kafka-ui-login", "registry-setup-login", "registry-services-login"]
    producer           = concat(values(local.kafka_secrets), values(local.registry_secrets))
    fraud-consumer     = concat(["smtp-password", "confirmation-token-key", "consumer-note-key", "kafka-fraud-consumer", "kafka-cases-consumer", "cases-database-url"], local.registry_readers)
    non-fraud-consumer = concat(["smtp-password", "consumer-note-key", "kafka-non-fraud-consumer"], local.registry_readers)
    confirmation       = concat(["confirmation-token-key", "kafka-confirmation-service"], local.registry_readers)
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

  lifecycle {
    precondition {
      condition     = toset(keys(var.kafka_passwords)) == toset(keys(local.kafka_secrets)) && toset(keys(var.registry_passwords)) == toset(keys(local.registry_secrets))
      error_message = "kafka_passwords needs one password for each of ${join(", ", keys(local.kafka_secrets))}, and registry_passwords for setup and services: run `make secrets`."
    }
  }
}

resource "google_secret_manager_secret_iam_member" "readers" {
  for_each = merge([for role, secrets in local.secret_readers :
    { for secret in secrets : "${role} ${secret}" => { role = role, secret = secret } }
  ]...)
  secret_id = google_secret_manager_secret.secrets[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.roles[each.value.role].member
}
