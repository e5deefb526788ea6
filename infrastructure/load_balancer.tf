# The confirmation service faces customers, so with confirmation_domain set it
# sits behind a global HTTPS load balancer with a Google-managed certificate
# (point the domain's A record at the confirmation_address output). The VM
# itself still has no external address and admits only the load balancer.

locals {
  public_confirmation = var.confirmation_domain != "" ? 1 : 0
}

resource "google_compute_instance_group" "confirmation" {
  count     = local.public_confirmation
  name      = "${var.prefix}-confirmation"
  zone      = local.zone
  instances = [google_compute_instance.pipeline["non-fraud-consumer"].self_link]

  named_port {
    name = "http"
    port = local.confirmation_port
  }
}

resource "google_compute_health_check" "confirmation" {
  count = local.public_confirmation
  name  = "${var.prefix}-confirmation"

  http_health_check {
    port         = local.confirmation_port
    request_path = "/healthz"
  }

  log_config {
    enable = true
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_backend_service" "confirmation" {
  count                 = local.public_confirmation
  name                  = "${var.prefix}-confirmation"
  protocol              = "HTTP"
  port_name             = "http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  health_checks         = [google_compute_health_check.confirmation[0].id]

  backend {
    group = google_compute_instance_group.confirmation[0].self_link
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

# A request log holds the whole URL, and the links in the fraud emails carry
# their signed token in the query string: those entries are dropped before
# Cloud Logging stores them. The answer itself travels in a POST body, which
# is never logged; every other request of the load balancer is kept.
resource "google_logging_project_exclusion" "confirmation_tokens" {
  count       = local.public_confirmation
  name        = "${var.prefix}-confirmation-tokens"
  description = "Load balancer request logs of confirmation links: their URLs carry signed tokens."
  filter      = "resource.type=\"http_load_balancer\" AND httpRequest.requestUrl:\"token=\""

  depends_on = [google_project_service.apis]
}

resource "google_compute_url_map" "confirmation" {
  count           = local.public_confirmation
  name            = "${var.prefix}-confirmation"
  default_service = google_compute_backend_service.confirmation[0].id
}

resource "google_compute_managed_ssl_certificate" "confirmation" {
  count = local.public_confirmation
  name  = "${var.prefix}-confirmation"

  managed {
    domains = [var.confirmation_domain]
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_ssl_policy" "confirmation" {
  count           = local.public_confirmation
  name            = "${var.prefix}-confirmation"
  profile         = "RESTRICTED"
  min_tls_version = "TLS_1_2"
  depends_on      = [google_project_service.apis]
}

resource "google_compute_target_https_proxy" "confirmation" {
  count            = local.public_confirmation
  name             = "${var.prefix}-confirmation"
  url_map          = google_compute_url_map.confirmation[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.confirmation[0].id]
  ssl_policy       = google_compute_ssl_policy.confirmation[0].id
}

resource "google_compute_global_address" "confirmation" {
  count      = local.public_confirmation
  name       = "${var.prefix}-confirmation"
  depends_on = [google_project_service.apis]
}

resource "google_compute_global_forwarding_rule" "confirmation" {
  count                 = local.public_confirmation
  name                  = "${var.prefix}-confirmation"
  target                = google_compute_target_https_proxy.confirmation[0].id
  ip_address            = google_compute_global_address.confirmation[0].id
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
