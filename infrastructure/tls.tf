# Encryption inside the network. Every Kafka listener (clients, replication, the
# controllers) and the schema registry's front door speak TLS, with certificates of the
# deployment's own authority in Certificate Authority Service. Each Kafka VM makes its
# private key at boot and asks the pool for a certificate of its name
# (infrastructure/startup/kafka.sh): no private key leaves a VM or enters the Terraform
# state; the chain the pool answers with ends in the authority's certificate. Every
# pipeline VM reads that certificate from the artifacts bucket at boot, beside the
# release (the bucket's own grants, and a name known before apply), and the clients
# check each server's certificate and name against it. The case table's Cloud SQL
# instance has an authority of its own, whose certificate goes the same way.

resource "google_privateca_ca_pool" "internal" {
  name     = "${var.prefix}-internal"
  location = var.region
  tier     = "DEVOPS" # certificates are not kept or listed: the VMs ask again at boot
  labels   = local.labels

  publishing_options {
    publish_ca_cert = false
    publish_crl     = false
  }

  issuance_policy {
    maximum_lifetime = "31536000s" # a year; a VM renews its certificate at boot past 11 months

    baseline_values {
      ca_options {
        is_ca = false
      }
      key_usage {
        base_key_usage {
          digital_signature = true
          key_agreement     = true
        }
        extended_key_usage {
          server_auth = true
          client_auth = true
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_privateca_certificate_authority" "internal" {
  pool                     = google_privateca_ca_pool.internal.name
  certificate_authority_id = "${var.prefix}-internal"
  location                 = var.region
  type                     = "SELF_SIGNED"
  lifetime                 = "315360000s" # ten years
  labels                   = local.labels
  # Like the buckets: kept unless force_destroy says the deployment may go whole.
  deletion_protection                    = !var.force_destroy
  skip_grace_period                      = var.force_destroy
  ignore_active_certificates_on_deletion = var.force_destroy

  config {
    subject_config {
      subject {
        organization = "fraudstream"
        common_name  = "${var.prefix} internal authority"
      }
    }
    x509_config {
      ca_options {
        is_ca                  = true
        max_issuer_path_length = 0
      }
      key_usage {
        base_key_usage {
          cert_sign = true
          crl_sign  = true
        }
        extended_key_usage {}
      }
    }
  }

  key_spec {
    algorithm = "EC_P256_SHA256"
  }
}

# The Kafka VMs ask for their certificates; nothing else may.
resource "google_privateca_ca_pool_iam_member" "kafka_certificates" {
  ca_pool = google_privateca_ca_pool.internal.id
  role    = "roles/privateca.certificateRequester"
  member  = google_service_account.roles["kafka"].member
}

# The authorities' certificates (public), where the pipeline VMs' boot reads them.
resource "google_storage_bucket_object" "authorities" {
  for_each = {
    internal = google_privateca_certificate_authority.internal.pem_ca_certificates[0]
    database = google_sql_database_instance.cases.server_ca_cert[0].cert
  }
  bucket  = google_storage_bucket.buckets["artifacts"].name
  name    = "tls/${each.key}-ca.pem"
  content = each.value
}
