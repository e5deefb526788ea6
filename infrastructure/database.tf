# The fraud case table: Cloud SQL for PostgreSQL on a private address only,
# reached over the VPC's private services peering. The password, drawn by
# `make secrets`, lives in Secret Manager inside the connection URL the case
# consumer reads at boot; the instance takes encrypted connections only.

resource "google_compute_global_address" "private_services" {
  name          = "${var.prefix}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.main.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
  depends_on              = [google_project_service.apis]
}

resource "google_sql_database_instance" "cases" {
  # checkov:skip=CKV_GCP_6: ssl_mode ENCRYPTED_ONLY below is what require_ssl became in the provider
  name                = "${var.prefix}-cases"
  database_version    = "POSTGRES_18"
  region              = var.region
  deletion_protection = !var.force_destroy

  settings {
    tier              = var.cases_database_tier
    edition           = "ENTERPRISE"
    availability_type = "ZONAL"
    disk_autoresize   = true
    user_labels       = local.labels

    ip_configuration {
      ipv4_enabled                                  = false # no public address
      private_network                               = google_compute_network.main.id
      enable_private_path_for_google_cloud_services = true
      ssl_mode                                      = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }

    # The logging the CIS benchmark asks of a PostgreSQL instance.
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "cases" {
  name     = "fraudstream"
  instance = google_sql_database_instance.cases.name
}

resource "google_sql_user" "cases" {
  name     = "cases"
  instance = google_sql_database_instance.cases.name
  password = local.cases_database_password
}

locals {
  cases_database_password = var.cases_database_password
  # What the case consumer connects with: user, password, private address, and TLS with
  # the server's certificate checked against the instance's own authority (pipeline.sh
  # writes it from metadata). That authority certifies this instance alone; its
  # certificate names the instance, not the private address, hence verify-ca.
  cases_database_url = format(
    "postgresql+psycopg://%s:%s@%s:5432/%s?sslmode=verify-ca&sslrootcert=/etc/fraudstream-tls/database-ca.pem",
    google_sql_user.cases.name, local.cases_database_password,
    google_sql_database_instance.cases.private_ip_address, google_sql_database.cases.name,
  )
}
