provider "google" {
  project = var.project_id
  region  = var.region
}

# The region's zones, unless three are given. Read once the Compute API is on:
# on a fresh project that is during the first apply, not the plan.
data "google_compute_zones" "region" {
  count      = length(var.zones) == 3 ? 0 : 1
  region     = var.region
  status     = "UP"
  depends_on = [google_project_service.apis]

  lifecycle {
    postcondition {
      condition     = length(self.names) >= 3
      error_message = "The region has fewer than three zones up; name three in `zones`, or choose another region."
    }
  }
}

locals {
  zones  = length(var.zones) == 3 ? var.zones : slice(sort(data.google_compute_zones.region[0].names), 0, 3)
  zone   = local.zones[0]
  labels = merge(var.labels, { app = "fraudstream", deployment = var.prefix })

  # Kafka: three KRaft nodes (broker and controller each) on three VMs, or on one.
  kafka_vms = var.kafka_layout == "spread" ? 3 : 1
  kafka_nodes = [for id in [1, 2, 3] : {
    id              = id
    vm              = var.kafka_layout == "spread" ? id - 1 : 0
    client_port     = 9091 + id # 9092, 9093, 9094
    controller_port = 9191 + id # 9192, 9193, 9194
  }]
  # Internal DNS names: known before the VMs exist, unlike their addresses.
  kafka_hosts = [for vm in range(local.kafka_vms) :
    "${var.prefix}-kafka-${vm + 1}.${local.zones[vm]}.c.${var.project_id}.internal"
  ]
  kafka_bootstrap = join(",", [for node in local.kafka_nodes : "${local.kafka_hosts[node.vm]}:${node.client_port}"])
  kafka_voters    = join(",", [for node in local.kafka_nodes : "${node.id}@${local.kafka_hosts[node.vm]}:${node.controller_port}"])
  # A KRaft cluster ID is 16 bytes in URL-safe base64 (22 characters); hex digits
  # are base64 characters, and a final "A" keeps the padding bits zero.
  kafka_cluster_id = "${substr(md5("${var.project_id}/${var.prefix}"), 0, 21)}A"
  registry_url     = "https://${local.kafka_hosts[0]}:8081"

  buckets = {
    dataset   = "${var.project_id}-${var.prefix}-dataset"
    lake      = "${var.project_id}-${var.prefix}-lake"
    artifacts = "${var.project_id}-${var.prefix}-artifacts"
  }
  package_object = "releases/fraudstream-${filemd5(var.package_path)}.tar.gz"

  confirmation_port     = 8000
  confirmation_base_url = var.confirmation_domain != "" ? "https://${var.confirmation_domain}" : "http://localhost:${local.confirmation_port}"

  model_detectors = ["logreg", "iforest", "gbm"]
  # What every pipeline VM is told (instance metadata, written to its environment file).
  pipeline_settings = merge(local.base_settings, var.detector_model_path == "" ? {} : {
    DETECTOR_MODEL = "gs://${local.buckets.artifacts}/models/${var.detector}-${filemd5(var.detector_model_path)}.onnx"
  })
  base_settings = {
    KAFKA_BOOTSTRAP_SERVERS  = local.kafka_bootstrap
    TLS_CA_FILE              = "/etc/fraudstream-tls/tls-ca.pem" # pipeline.sh writes it (tls.tf)
    SCHEMA_REGISTRY_URL      = local.registry_url
    TOPIC_PARTITIONS         = tostring(var.topic_partitions)
    TOPIC_REPLICATION_FACTOR = "3"
    GCP_PROJECT              = var.project_id
    DATASET_BUCKET           = local.buckets.dataset
    LAKE_BUCKET              = local.buckets.lake
    SMTP_HOST                = var.smtp_host
    SMTP_PORT                = tostring(var.smtp_port)
    SMTP_STARTTLS            = "true"
    SMTP_USERNAME            = var.smtp_username
    MAIL_FROM                = var.mail_from
    MAIL_REPLY_TO            = var.brand.reply_to
    CUSTOMER_EMAIL_DOMAIN    = var.customer_email_domain
    BANK_NAME                = var.brand.bank_name
    SUPPORT_CONTACT          = var.brand.support_contact
    BANK_LOGO_URL            = var.brand.logo_url
    BRAND_COLOUR             = var.brand.colour
    CURRENCY                 = var.brand.currency
    CURRENCY_LOCALE          = var.brand.locale
    DETECTOR                 = var.detector
    CONFIRMATION_BASE_URL    = local.confirmation_base_url
    CONFIRMATION_HOST        = "0.0.0.0"
    CONFIRMATION_PORT        = tostring(local.confirmation_port)
  }

  # The pipeline VMs: what each runs; the secrets of the whole VM, by setting;
  # the Kafka login of each service, as "principal", and its registry login
  # ("setup" may register schemas, "services" may only read them); and, on the
  # producer VM, every service principal, which its `setup` makes. The
  # confirmation service, the one part that faces the internet, has a VM and a
  # service account of its own: it holds its token key and its two logins, and
  # may touch the lake only under the answers' folder (iam.tf).
  # Producer VM i of N streams shard i/N of the file (--shard; 0/1 is the whole file);
  # the first also runs `setup`, and holds the principals it makes.
  producer_vms = { for index in range(var.producer_count) :
    (index == 0 ? "producer" : "producer-${index}") => {
      role         = "producer"
      machine_type = var.app_machine_type
      services     = index == 0 ? ["setup", "produce", "watch-lag"] : ["produce"]
      shard        = "${index}/${var.producer_count}"
      secrets      = {}
      kafka_logins = { for service in(index == 0 ? ["setup", "produce", "watch-lag"] : ["produce"]) :
      service => local.producer_vm_logins[service] }
      registry_logins = { for service in(index == 0 ? ["setup", "produce"] : ["produce"]) :
      service => service == "setup" ? "setup" : "services" }
      principals = index == 0 ? local.kafka_principals : []
    }
  }
  # The first producer VM also runs the lag watcher, which the autoscalers read
  # (`fraudstream watch-lag`, as a principal that may only describe groups and topics).
  producer_vm_logins = { setup = "admin", produce = "producer", watch-lag = "lag-watcher" }
  # The email consumers: a managed instance group of each kind, of VMs alike (one
  # template). Members of one kind join one consumer group and share its topic's
  # partitions; Kafka hands a stopped member's partitions to the others. `groups` are
  # the consumer groups the kind's VMs run, under the names the services keep by default
  # (fraudstream.settings): the autoscaler grows the kind with their lag.
  consumer_kinds = {
    fraud = {
      role            = "fraud-consumer"
      services        = ["consume-fraud", "consume-cases"]
      secrets         = { SMTP_PASSWORD = "smtp-password", CONFIRMATION_TOKEN_KEY = "confirmation-token-key", CONSUMER_NOTE_KEY = "consumer-note-key", CASES_DATABASE_URL = "cases-database-url" }
      kafka_logins    = { consume-fraud = "fraud-consumer", consume-cases = "cases-consumer" }
      registry_logins = { consume-fraud = "services", consume-cases = "services" }
      groups          = ["fraud-confirmer", "fraud-cases"]
    }
    non_fraud = {
      role            = "non-fraud-consumer"
      services        = ["consume-non-fraud"]
      secrets         = { SMTP_PASSWORD = "smtp-password", CONSUMER_NOTE_KEY = "consumer-note-key" }
      kafka_logins    = { consume-non-fraud = "non-fraud-consumer" }
      registry_logins = { consume-non-fraud = "services" }
      groups          = ["non-fraud-notifier"]
    }
  }
  consumer_templates = { for kind, consumer in local.consumer_kinds : consumer.role => merge(consumer, {
    machine_type = var.app_machine_type
    shard        = ""
    principals   = []
  }) }
  pipeline_vms = merge(local.producer_vms, {
    confirmation = {
      role            = "confirmation"
      machine_type    = var.confirmation_machine_type
      shard           = ""
      services        = ["confirmation-service"]
      secrets         = { CONFIRMATION_TOKEN_KEY = "confirmation-token-key" }
      kafka_logins    = { confirmation-service = "confirmation-service" }
      registry_logins = { confirmation-service = "services" }
      principals      = []
    }
  })
}

resource "google_project_service" "apis" {
  for_each = toset([
    "cloudresourcemanager.googleapis.com", # the project-level grants (projects.setIamPolicy)
    "compute.googleapis.com",
    "iam.googleapis.com", # the service accounts
    "iap.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com", # the Ops Agent's metrics
    "privateca.googleapis.com",  # the internal certificate authority (tls.tf)
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com", # the private address of Cloud SQL
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}
