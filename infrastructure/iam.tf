# One service account per role, no keys: VMs get short-lived tokens from the
# metadata server. Each is granted on the one bucket or secret it needs.

locals {
  # Account IDs are at most 30 characters, so each role has a short one.
  roles = {
    kafka              = { account = "kafka", about = "Kafka brokers, schema registry and Kafka UI" }
    producer           = { account = "producer", about = "The producer: reads the dataset" }
    fraud-consumer     = { account = "fraud", about = "The fraud consumer: writes the lake, sends emails" }
    non-fraud-consumer = { account = "notify", about = "The non-fraud consumer: writes the lake, sends emails" }
    confirmation       = { account = "confirm", about = "The confirmation service: records answers under the lake's answers folder" }
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

# The case consumer's VM may connect to Cloud SQL instances (its password still decides
# what it may do there); no other role may.
resource "google_project_iam_member" "cases_database_client" {
  project = var.project_id
  role    = "roles/cloudsql.client"
  member  = google_service_account.roles["fraud-consumer"].member
}

resource "google_project_iam_member" "telemetry" {
  for_each = { for pair in setproduct(keys(local.roles), local.project_roles) : "${pair[0]} ${pair[1]}" => pair }
  project  = var.project_id
  role     = each.value[1]
  member   = google_service_account.roles[each.value[0]].member
}

# The consumers and the confirmation service create lake objects, overwrite a
# batch when a crashed one is redone and an answer when it is claimed (an
# overwrite needs delete), read and list: exactly these, in a role of their own.
# No predefined role fits: objectUser would add update and restore as well.
resource "google_project_iam_custom_role" "lake_writer" {
  role_id     = "${replace(var.prefix, "-", "_")}_lake_writer"
  title       = "${var.prefix}: writes the lake"
  description = "Create, overwrite, read and list objects: what the consumers and the confirmation service do in the lake."
  permissions = ["storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list"]
  depends_on  = [google_project_service.apis]
}

locals {
  lake_writer = "projects/${var.project_id}/roles/${google_project_iam_custom_role.lake_writer.role_id}"
  # "<account> <bucket>": the role that account has on that bucket, and no other.
  # tests/integration/infrastructure/test_permissions.py holds these against what each service does.
  bucket_grants = {
    "producer dataset"             = "roles/storage.objectViewer"
    "producer artifacts"           = "roles/storage.objectViewer"
    "fraud-consumer lake"          = "lake_writer"
    "fraud-consumer artifacts"     = "roles/storage.objectViewer"
    "non-fraud-consumer lake"      = "lake_writer"
    "non-fraud-consumer artifacts" = "roles/storage.objectViewer"
    "confirmation lake"            = "lake_writer"
    "confirmation artifacts"       = "roles/storage.objectViewer"
  }
  # Grants held to the objects under some folders (fraudstream.topology.storage_prefixes),
  # with the topics' default names, which the VMs keep: each consumer writes its own
  # topic's batches and email log, the internet-facing service the answers, and no
  # account reaches another's customers.
  grant_prefixes = {
    "fraud-consumer lake"     = ["fraud_confirmation/topic=fraud_transaction/", "email_confirmation/topic=fraud_transaction/"]
    "non-fraud-consumer lake" = ["transaction/topic=non_fraud_transaction/", "email_confirmation/topic=non_fraud_transaction/"]
    "confirmation lake"       = ["fraud_confirmation/answers/"]
  }
}

resource "google_storage_bucket_iam_member" "grants" {
  for_each = local.bucket_grants
  bucket   = google_storage_bucket.buckets[split(" ", each.key)[1]].name
  role     = each.value == "lake_writer" ? local.lake_writer : each.value
  member   = google_service_account.roles[split(" ", each.key)[0]].member

  # An object's name, or a listing's prefix, must start with one of the folders.
  dynamic "condition" {
    for_each = contains(keys(local.grant_prefixes), each.key) ? [local.grant_prefixes[each.key]] : []
    content {
      title       = "only under its folders"
      description = "Objects under ${join(", ", condition.value)} and listings there, nothing else of the bucket."
      expression = join(" || ", flatten([for prefix in condition.value : [
        "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.buckets[split(" ", each.key)[1]].name}/objects/${prefix}\")",
        "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"${prefix}\")",
      ]]))
    }
  }
}
