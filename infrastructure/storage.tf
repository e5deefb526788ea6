# Three private buckets: the dataset the producer reads, the lake the consumers
# write, and the release archive the VMs install. Uniform access, public access
# prevented, versioned; old versions expire.

resource "google_storage_bucket" "buckets" {
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs (turn on Data Access logs for Cloud Storage by organisation policy); bucket usage logs are the legacy mechanism.
  for_each                    = local.buckets
  name                        = each.value
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = merge(local.labels, { role = each.key })

  versioning {
    enabled = true
  }

  # A lake batch is rewritten when a crashed batch is redone: keep the old
  # version a while, then let it go.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "package" {
  bucket = google_storage_bucket.buckets["artifacts"].name
  name   = local.package_object
  source = var.package_path
}

# The detector's model, beside the release: the producer's account reads the artifacts bucket.
resource "google_storage_bucket_object" "model" {
  count  = var.detector_model_path != "" ? 1 : 0
  bucket = google_storage_bucket.buckets["artifacts"].name
  name   = "models/${var.detector}-${filemd5(var.detector_model_path)}.onnx"
  source = var.detector_model_path
}

resource "google_storage_bucket_object" "dataset" {
  count  = var.dataset_local_path != "" ? 1 : 0
  bucket = google_storage_bucket.buckets["dataset"].name
  name   = var.dataset_object
  source = var.dataset_local_path
}
