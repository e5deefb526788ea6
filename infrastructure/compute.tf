# The VMs: Debian 12, no external address, Shielded VM, OS Login, their own
# service account each. Startup scripts install and start the services from
# what instance metadata says; nothing is edited by hand after apply.

locals {
  image = "debian-cloud/debian-12"
  # Each startup script runs after what they all share (retries, metadata, the Ops Agent).
  startup_scripts = { for role in ["kafka", "pipeline"] :
    role => "${file("${path.module}/startup/common.sh")}\n${file("${path.module}/startup/${role}.sh")}"
  }
}

resource "google_compute_disk" "kafka_data" {
  #checkov:skip=CKV_GCP_37:Encrypted at rest with Google-managed keys; customer-supplied keys would have to be sent with every start, so no VM could restart unattended.
  count  = local.kafka_vms
  name   = "${var.prefix}-kafka-${count.index + 1}-data"
  zone   = local.zones[count.index]
  type   = "pd-balanced"
  size   = var.kafka_disk_gb
  labels = merge(local.labels, { role = "kafka" })

  depends_on = [google_project_service.apis]
}

resource "google_compute_instance" "kafka" {
  #checkov:skip=CKV_GCP_38:Encrypted at rest with Google-managed keys; customer-supplied keys would have to be sent with every start, so no VM could restart unattended.
  count        = local.kafka_vms
  name         = "${var.prefix}-kafka-${count.index + 1}"
  zone         = local.zones[count.index]
  machine_type = var.kafka_machine_type
  # A change of machine type stops and restarts the VM instead of failing.
  allow_stopping_for_update = true
  tags                      = ["${var.prefix}-vm", "${var.prefix}-kafka"]
  labels                    = merge(local.labels, { role = "kafka" })

  boot_disk {
    initialize_params {
      image = local.image
      size  = 20
      type  = "pd-balanced"
    }
  }

  attached_disk {
    source      = google_compute_disk.kafka_data[count.index].id
    device_name = "kafka-data"
  }

  network_interface {
    subnetwork = google_compute_subnetwork.main.id
  }

  metadata = {
    enable-oslogin         = "TRUE"
    block-project-ssh-keys = "TRUE"
    startup-script         = local.startup_scripts["kafka"]
    ops-agent              = tostring(var.ops_agent)
    kafka-cluster-id       = local.kafka_cluster_id
    kafka-voters           = local.kafka_voters
    # "id:client-port:controller-port" for each node this VM runs.
    kafka-nodes     = join(" ", [for node in local.kafka_nodes : "${node.id}:${node.client_port}:${node.controller_port}" if node.vm == count.index])
    kafka-bootstrap = local.kafka_bootstrap
    # The first VM also runs the schema registry and Kafka UI.
    kafka-extras = count.index == 0 ? "true" : "false"
    # Secret Manager secrets: the administrator's password, the registry's and Kafka UI's
    # Kafka logins, Kafka UI's login form, and the registry's two logins ("user:password").
    kafka-admin-secret    = google_secret_manager_secret.secrets["kafka-admin"].secret_id
    kafka-registry-secret = google_secret_manager_secret.secrets["kafka-schema-registry"].secret_id
    kafka-ui-secret       = google_secret_manager_secret.secrets["kafka-kafka-ui"].secret_id
    kafka-ui-login-secret = google_secret_manager_secret.secrets["kafka-ui-login"].secret_id
    registry-logins       = join(" ", [for secret in values(local.registry_secrets) : google_secret_manager_secret.secrets[secret].secret_id])
    # TLS (tls.tf): the name the VM's certificate is for, and the pool it asks.
    kafka-host        = local.kafka_hosts[count.index]
    tls-pool          = google_privateca_ca_pool.internal.name
    tls-pool-location = var.region
  }

  service_account {
    email  = google_service_account.roles["kafka"].email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  lifecycle {
    precondition {
      condition     = alltrue([for zone in local.zones : startswith(zone, "${var.region}-")])
      error_message = "Every zone in `zones` must be in `region`."
    }
  }

  depends_on = [google_compute_router_nat.main, google_secret_manager_secret_version.secrets]
}

# What a producer, consumer or confirmation VM is told at boot, by its name (a consumer
# kind's by its role: its group's template holds it). Settings are NAME=value lines;
# secrets are named here and read from Secret Manager, never written here.
locals {
  pipeline_metadata = { for name, vm in merge(local.pipeline_vms, local.consumer_templates) : name => {
    startup-script       = local.startup_scripts["pipeline"]
    ops-agent            = tostring(var.ops_agent)
    fraudstream-package  = "gs://${google_storage_bucket_object.package.bucket}/${google_storage_bucket_object.package.name}"
    fraudstream-services = join(" ", vm.services)
    fraudstream-source   = "gs://${local.buckets.dataset}/${var.dataset_object}"
    fraudstream-shard    = vm.shard # "I/N" on a producer VM, read there alone
    fraudstream-settings = join("\n", [for name, value in local.pipeline_settings : "${name}=${value}"])
    fraudstream-secrets = join(" ", [for name, secret in vm.secrets :
    "${name}=${google_secret_manager_secret.secrets[secret].secret_id}"])
    # "service=principal=secret": the Kafka login each service of this VM uses.
    fraudstream-kafka-logins = join(" ", [for service, principal in vm.kafka_logins :
    "${service}=${principal}=${google_secret_manager_secret.secrets[local.kafka_secrets[principal]].secret_id}"])
    # "service=secret": the registry login ("user:password") each service of this VM uses.
    fraudstream-registry-logins = join(" ", [for service, login in vm.registry_logins :
    "${service}=${google_secret_manager_secret.secrets[local.registry_secrets[login]].secret_id}"])
    # "principal=secret": the principals `setup` makes (the producer VM only).
    fraudstream-kafka-principals = join(" ", [for principal in vm.principals :
    "${principal}=${google_secret_manager_secret.secrets[local.kafka_secrets[principal]].secret_id}"])
    # Where the authorities the services check their servers against are (tls.tf): the
    # deployment's own (Kafka, the registry) and the case table's Cloud SQL instance's.
    fraudstream-tls-ca      = "gs://${local.buckets.artifacts}/tls/internal-ca.pem"
    fraudstream-database-ca = "gs://${local.buckets.artifacts}/tls/database-ca.pem"
  } }
}

resource "google_compute_instance" "pipeline" {
  #checkov:skip=CKV_GCP_32:Set below through merge(), which the check does not read; tests/infra/test_plan.py checks the planned metadata of every VM and template.
  #checkov:skip=CKV_GCP_38:Encrypted at rest with Google-managed keys; customer-supplied keys would have to be sent with every start, so no VM could restart unattended.
  for_each                  = local.pipeline_vms
  name                      = "${var.prefix}-${each.key}"
  zone                      = local.zone
  machine_type              = each.value.machine_type
  allow_stopping_for_update = true
  tags = concat(["${var.prefix}-vm"],
  contains(each.value.services, "confirmation-service") ? ["${var.prefix}-confirmation"] : [])
  labels = merge(local.labels, { role = each.value.role })

  boot_disk {
    initialize_params {
      image = local.image
      size  = 20
      type  = "pd-balanced"
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.main.id
  }

  metadata = merge(local.pipeline_metadata[each.key], {
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

  depends_on = [
    google_compute_router_nat.main,
    google_compute_instance.kafka,
    google_secret_manager_secret_version.secrets,
  ]

  lifecycle {
    precondition {
      condition     = !contains(local.model_detectors, var.detector) || var.detector_model_path != ""
      error_message = "detector ${var.detector} needs its model: set detector_model_path to the file `fraudstream train` wrote."
    }
  }
}
