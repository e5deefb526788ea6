# One VPC, one subnet, no external addresses: VMs reach the internet (packages,
# images) through Cloud NAT and Google APIs through Private Google Access.

locals {
  iap_range       = "35.235.240.0/20"                   # where IAP TCP forwarding connects from
  lb_ranges       = ["130.211.0.0/22", "35.191.0.0/16"] # Google's load balancers and health checks
  kafka_ports     = [for node in local.kafka_nodes : tostring(node.client_port)]
  kafka_ctl_ports = [for node in local.kafka_nodes : tostring(node.controller_port)]
}

resource "google_compute_network" "main" {
  name                    = "${var.prefix}-vpc"
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

resource "google_compute_subnetwork" "main" {
  name                     = "${var.prefix}-subnet"
  network                  = google_compute_network.main.id
  region                   = var.region
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_router" "main" {
  name    = "${var.prefix}-router"
  network = google_compute_network.main.id
  region  = var.region
}

resource "google_compute_router_nat" "main" {
  name                               = "${var.prefix}-nat"
  router                             = google_compute_router.main.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.main.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# By service account, not by address: a VM someone adds to the subnet later
# does not reach Kafka unless it runs as one of the pipeline's accounts. Each
# port is open to the roles that use it: the brokers to every role (the
# brokers replicate over them too), the KRaft controllers to the Kafka VMs
# alone, the schema registry (its authenticating proxy) to the pipeline VMs.
locals {
  pipeline_accounts = [for role, account in google_service_account.roles : account.email if role != "kafka"]
  kafka_openings = {
    brokers     = { ports = local.kafka_ports, sources = [for account in google_service_account.roles : account.email], about = "Kafka's brokers, from the pipeline's VMs and each other" }
    controllers = { ports = local.kafka_ctl_ports, sources = [google_service_account.roles["kafka"].email], about = "The KRaft controllers, from the Kafka VMs only" }
    registry    = { ports = ["8081"], sources = local.pipeline_accounts, about = "The schema registry's authenticating proxy, from the pipeline's VMs only" }
  }
}

resource "google_compute_firewall" "kafka" {
  for_each                = local.kafka_openings
  name                    = "${var.prefix}-kafka-${each.key}"
  description             = "${each.value.about}."
  network                 = google_compute_network.main.id
  direction               = "INGRESS"
  source_service_accounts = each.value.sources
  target_service_accounts = [google_service_account.roles["kafka"].email]

  allow {
    protocol = "tcp"
    ports    = each.value.ports
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "ssh_from_iap" {
  name          = "${var.prefix}-ssh-from-iap"
  description   = "SSH through Identity-Aware Proxy only (gcloud compute ssh --tunnel-through-iap)."
  network       = google_compute_network.main.id
  direction     = "INGRESS"
  source_ranges = [local.iap_range]
  target_tags   = ["${var.prefix}-vm"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "consoles_from_iap" {
  name          = "${var.prefix}-consoles-from-iap"
  description   = "Kafka UI and the confirmation service through IAP TCP forwarding, for operators."
  network       = google_compute_network.main.id
  direction     = "INGRESS"
  source_ranges = [local.iap_range]
  target_tags   = ["${var.prefix}-kafka", "${var.prefix}-confirmation"]

  allow {
    protocol = "tcp"
    ports    = ["9080", tostring(local.confirmation_port)]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "confirmation_from_load_balancer" {
  count         = var.confirmation_domain != "" ? 1 : 0
  name          = "${var.prefix}-confirmation-from-lb"
  description   = "The confirmation service, from Google's HTTPS load balancer and its health checks only."
  network       = google_compute_network.main.id
  direction     = "INGRESS"
  source_ranges = local.lb_ranges
  target_tags   = ["${var.prefix}-confirmation"]

  allow {
    protocol = "tcp"
    ports    = [tostring(local.confirmation_port)]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
