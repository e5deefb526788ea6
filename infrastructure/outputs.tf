output "kafka_vms" {
  description = "Names of the Kafka VMs (the first also runs the schema registry and Kafka UI)."
  value       = google_compute_instance.kafka[*].name
}

output "pipeline_vms" {
  description = "Names of the producer and confirmation VMs, by role."
  value       = { for role, vm in google_compute_instance.pipeline : role => vm.name }
}

output "consumer_groups" {
  description = "The managed instance group of each email consumer kind; `gcloud compute instance-groups managed list-instances NAME --zone ZONE` lists its VMs."
  value       = { for kind, group in google_compute_instance_group_manager.consumer : kind => { name = group.name, zone = group.zone } }

  # Checked here, once, rather than on each group. A consumer beyond the partitions
  # gets none: it would idle, and hide a shortfall of capacity.
  precondition {
    condition     = max(values(var.consumer_count)...) <= var.topic_partitions
    error_message = "consumer_count asks for more VMs of one kind than topic_partitions (${var.topic_partitions}); a consumer group's members share the partitions, so the extra VMs would get none. Raise topic_partitions or lower consumer_count."
  }

  precondition {
    condition = alltrue([for kind, scaling in var.consumer_autoscaling :
    scaling.max_vms <= var.topic_partitions && scaling.max_vms >= var.consumer_count[kind]])
    error_message = "consumer_autoscaling's max_vms must lie between the kind's consumer_count and topic_partitions (${var.topic_partitions}): the autoscaler starts from consumer_count, and a VM beyond the partitions would get none."
  }
}

output "internal_addresses" {
  description = "Internal IP address of every VM, by name."
  value = merge(
    { for vm in google_compute_instance.kafka : vm.name => vm.network_interface[0].network_ip },
    { for vm in google_compute_instance.pipeline : vm.name => vm.network_interface[0].network_ip },
  )
}

output "kafka_bootstrap_servers" {
  description = "KAFKA_BOOTSTRAP_SERVERS for clients inside the VPC."
  value       = local.kafka_bootstrap
}

output "schema_registry_url" {
  description = "SCHEMA_REGISTRY_URL for clients inside the VPC (with SCHEMA_REGISTRY_LOGIN from a <prefix>-registry-*-login secret)."
  value       = local.registry_url
}

output "kafka_ui" {
  description = "How to open Kafka UI: an IAP tunnel, then http://localhost:9080, user admin, the password in the kafka-ui-login secret."
  value       = "gcloud compute start-iap-tunnel ${google_compute_instance.kafka[0].name} 9080 --local-host-port=localhost:9080 --zone ${local.zones[0]} --project ${var.project_id}"
}

output "confirmation_url" {
  description = "Where the links in the fraud emails point."
  value       = local.confirmation_base_url
}

output "confirmation_address" {
  description = "The load balancer's address, for the confirmation domain's A record (empty without confirmation_domain)."
  value       = var.confirmation_domain != "" ? google_compute_global_address.confirmation[0].address : ""
}

output "buckets" {
  description = "The dataset, lake and release buckets."
  value       = { for role, bucket in google_storage_bucket.buckets : role => "gs://${bucket.name}" }
}

output "producer_source" {
  description = "The CSV the producer streams."
  value       = "gs://${local.buckets.dataset}/${var.dataset_object}"
}
