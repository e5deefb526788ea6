# One service account per role, no keys: VMs get short-lived tokens from the
# metadata server. Each is granted on the one bucket or secret it needs.

locals {
  # Account IDs are at most 30 characters, so each role has a short one.
  roles = {
    kafka              = { account = "kafka", about = "Kafka brokers, schema registry and Kafka UI" }
    producer           = { account = "producer", about = "The producer: reads the dataset" }
    fraud-consumer     = { account = "fraud", about = "The fraud consumer: writes the lake, sends emails" }
    non-fraud-consumer = { account = "notify", about = "The non-fraud consumer and the confirmation service" }
  }
  # Writing logs and metrics is all any role needs from the project itself.
  project_roles = ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
}

resource "google_service_account" "roles" {
  for_each     = local.roles
  account_id   = "${var.prefix}-${each.value.account}"
  display_name = "${var.prefix}: ${each.value.about}"
  depends_on   = [google_project_service.apis]
}

resource "google_project_iam_member" "telemetry" {
  for_each = { for pair in setproduct(keys(local.roles), local.project_roles) : "${pair[0]} ${pair[1]}" => pair }
  project  = var.project_id
  role     = each.value[1]
  member   = google_service_account.roles[each.value[0]].member
}

resource "google_storage_bucket_iam_member" "producer_reads_dataset" {
  bucket = google_storage_bucket.buckets["dataset"].name
  role   = "roles/storage.objectViewer"
  member = google_service_account.roles["producer"].member
}

# Consumers create batch objects, overwrite them when a batch is redone (which
# needs delete) and update an answer's metadata: objectUser, on the lake only.
resource "google_storage_bucket_iam_member" "consumers_write_lake" {
  for_each = toset(["fraud-consumer", "non-fraud-consumer"])
  bucket   = google_storage_bucket.buckets["lake"].name
  role     = "roles/storage.objectUser"
  member   = google_service_account.roles[each.value].member
}

resource "google_storage_bucket_iam_member" "pipeline_reads_release" {
  for_each = local.pipeline_vms
  bucket   = google_storage_bucket.buckets["artifacts"].name
  role     = "roles/storage.objectViewer"
  member   = google_service_account.roles[each.key].member
}

# Both consumer VMs send email and sign or check links: both secrets, nothing else.
resource "google_secret_manager_secret_iam_member" "consumers_read_secrets" {
  for_each  = { for pair in setproduct(["fraud-consumer", "non-fraud-consumer"], local.secret_names) : "${pair[0]} ${pair[1]}" => pair }
  secret_id = google_secret_manager_secret.secrets[each.value[1]].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.roles[each.value[0]].member
}
