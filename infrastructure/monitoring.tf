# What the services' Prometheus metrics (fraudstream/runtime/metrics.py) show in Cloud
# Monitoring: the Ops Agent on each pipeline VM scrapes them on loopback
# (startup/pipeline.sh) into Managed Service for Prometheus, where these PromQL
# queries read them. One dashboard, and an alert for each thing that needs a person.

locals {
  alerts = {
    lag-rising = {
      name = "consumer lag keeps rising"
      # Above the threshold, and higher than 10 minutes before, for 20 minutes on end.
      query    = "sum by (group) (fraudstream_consumer_lag) > ${var.lag_alert_threshold} and sum by (group) (delta(fraudstream_consumer_lag[10m])) > 0"
      duration = "1200s"
      about    = "A consumer group falls further behind its topic: the consumers are down, stuck on an outage they retry, or too few for the load."
    }
    dead-letters = {
      name     = "records went to the dead-letter topic"
      query    = "sum by (group) (increase(fraudstream_dead_letters_total[10m])) > 0"
      duration = "0s"
      about    = "A consumer could not decode or handle records and put them on the dead-letter topic; their headers say why."
    }
    fraud-email-slow = {
      name = "fraud alerts reach customers late"
      # The 99th percentile from a live payment to its "was this you?" email, over 5 minutes.
      query    = "histogram_quantile(0.99, sum by (le) (rate(fraudstream_payment_latency_seconds_bucket{sink=\"email/fraud_confirmation\"}[5m]))) > ${var.fraud_email_latency_alert_seconds}"
      duration = "300s"
      about    = "Customers hear of a suspect payment later than they should: the fraud consumer is behind (see its lag), the mail server is slow, or the producer's commits are."
    }
    smtp-rejections = {
      name     = "the mail server rejects emails"
      query    = "sum by (group) (increase(fraudstream_emails_total{status=\"rejected\"}[10m])) > 0"
      duration = "0s"
      about    = "Emails were refused for good (a bad address, or the server said no); the email log in the lake has each one and its error."
    }
  }
  # The dashboard's charts, each a title and PromQL: the local stack's Prometheus shows the same.
  charts = jsondecode(file("${path.module}/../fraudstream/runtime/dashboard.json")).charts
}

resource "google_monitoring_dashboard" "pipeline" {
  dashboard_json = jsonencode({
    displayName = "${var.prefix} pipeline"
    mosaicLayout = {
      columns = 12
      tiles = [for index, chart in local.charts : {
        xPos   = (index % 2) * 6
        yPos   = floor(index / 2) * 4
        width  = 6
        height = 4
        widget = {
          title = chart.title
          xyChart = {
            dataSets = [{ plotType = "LINE", timeSeriesQuery = { prometheusQuery = chart.query } }]
          }
        }
      }]
    }
  })
  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "pipeline" {
  for_each     = local.alerts
  display_name = "${var.prefix}: ${each.value.name}"
  combiner     = "OR"
  conditions {
    display_name = each.value.name
    condition_prometheus_query_language {
      query               = each.value.query
      duration            = each.value.duration
      evaluation_interval = "60s"
    }
  }
  documentation {
    content   = each.value.about
    mime_type = "text/markdown"
  }
  notification_channels = var.alert_notification_channels
  depends_on            = [google_project_service.apis]
}
