# The email consumers: a managed instance group of each kind, of VMs made from one
# template (compute.tf's metadata for the kind's role). A group keeps
# consumer_count[kind] VMs; with consumer_autoscaling[kind], an autoscaler grows it
# with the lag of the kind's consumer groups, which the lag watcher on the first
# producer VM exports as one series a group (`fraudstream watch-lag`), and shrinks it
# again, one VM at a time. Kafka hands a removed VM's partitions to the others.

resource "google_compute_instance_template" "consumer" {
  #checkov:skip=CKV_GCP_32:Set below through merge(), which the check does not read; tests/infra/test_plan.py checks the planned metadata of every VM and template.
  #checkov:skip=CKV_GCP_38:Encrypted at rest with Google-managed keys; customer-supplied keys would have to be sent with every start, so no VM could restart unattended.
  for_each     = local.consumer_kinds
  name_prefix  = "${var.prefix}-${each.value.role}-"
  machine_type = var.app_machine_type
  tags         = ["${var.prefix}-vm"]
  labels       = merge(local.labels, { role = each.value.role })

  disk {
    source_image = local.image
    disk_size_gb = 20
    disk_type    = "pd-balanced"
    boot         = true
    auto_delete  = true
  }

  network_interface {
    subnetwork = google_compute_subnetwork.main.id
  }

  metadata = merge(local.pipeline_metadata[each.value.role], {
    enable-oslogin         = "TRUE"
    block-project-ssh-keys = "TRUE"
  })

  service_account {
    email  = google_service_account.roles[each.value.role].email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  # A template cannot be changed in place: the new one is made, the group moved to it,
  # and the old one deleted after.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_instance_group_manager" "consumer" {
  for_each           = local.consumer_kinds
  name               = "${var.prefix}-${each.value.role}"
  zone               = local.zone
  base_instance_name = "${var.prefix}-${each.value.role}"
  # Left to the autoscaler where there is one.
  target_size = contains(keys(var.consumer_autoscaling), each.key) ? null : var.consumer_count[each.key]

  version {
    instance_template = google_compute_instance_template.consumer[each.key].self_link_unique
  }

  # A new template replaces the VMs one at a time, the new one up before the old one
  # goes: the group never has fewer members than it had.
  update_policy {
    type                  = "PROACTIVE"
    minimal_action        = "REPLACE"
    max_surge_fixed       = 1
    max_unavailable_fixed = 0
  }

  depends_on = [
    google_compute_router_nat.main,
    google_compute_instance.kafka,
    google_secret_manager_secret_version.secrets,
  ]
}

resource "google_compute_autoscaler" "consumer" {
  for_each = var.consumer_autoscaling
  name     = "${var.prefix}-${local.consumer_kinds[each.key].role}"
  zone     = local.zone
  target   = google_compute_instance_group_manager.consumer[each.key].id

  autoscaling_policy {
    min_replicas = var.consumer_count[each.key]
    max_replicas = each.value.max_vms
    # A new VM installs the release and joins its group before it takes records.
    cooldown_period = 300

    # One VM for each lag_per_vm records the kind's groups are behind (the largest of
    # its groups decides): a per-group metric, one series a group, as the lag watcher
    # exports it through the Ops Agent into Managed Service for Prometheus.
    dynamic "metric" {
      for_each = local.consumer_kinds[each.key].groups
      content {
        name                       = "prometheus.googleapis.com/fraudstream_group_lag/gauge"
        filter                     = "resource.type = \"prometheus_target\" AND metric.labels.group = \"${metric.value}\""
        single_instance_assignment = each.value.lag_per_vm
      }
    }

    # Shrink by one VM in ten minutes at most: a lull does not empty the group before
    # the next burst.
    scale_in_control {
      max_scaled_in_replicas {
        fixed = 1
      }
      time_window_sec = 600
    }
  }
}
