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
  instances = [google_compute_instance.pipeline["confirmation"].self_link]

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
  security_policy       = google_compute_security_policy.confirmation[0].id

  backend {
    group = google_compute_instance_group.confirmation[0].self_link
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

# Cloud Armor in front of the service: each client address may send
# confirmation_rate_limit.per_minute requests a minute (a customer's answer
# takes two: the page, then the button); above that it gets 429, and one that
# keeps on past ban_threshold requests in five minutes is turned away for
# ban_minutes. Requests that carry the Log4Shell pattern are refused outright.
resource "google_compute_security_policy" "confirmation" {
  count       = local.public_confirmation
  name        = "${var.prefix}-confirmation"
  description = "A rate limit and ban by client address in front of the confirmation service."
  type        = "CLOUD_ARMOR"

  rule {
    action      = "deny(403)"
    priority    = 900
    description = "Log4Shell probes (CVE-2021-44228)"
    match {
      expr {
        expression = "evaluatePreconfiguredExpr('cve-canary')"
      }
    }
  }

  rule {
    action      = "rate_based_ban"
    priority    = 1000
    description = "Per client address: a rate limit, then a ban for who keeps on"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action   = "allow"
      exceed_action    = "deny(429)"
      enforce_on_key   = "IP"
      ban_duration_sec = var.confirmation_rate_limit.ban_minutes * 60
      rate_limit_threshold {
        count        = var.confirmation_rate_limit.per_minute
        interval_sec = 60
      }
      ban_threshold {
        count        = var.confirmation_rate_limit.ban_threshold
        interval_sec = 300
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Everything else"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.apis]
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
