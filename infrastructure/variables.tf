# ---------------------------------------------------------------------------
# Where

variable "project_id" {
  description = "The Google Cloud project to build in."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the subnet, the NAT and the buckets; the VMs go into its zones."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]{1,2}$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1, us-central1 or europe-west12."
  }
}

variable "zones" {
  description = "Three zones of the region, one per Kafka VM when kafka_layout is \"spread\"; the other VMs use the first. Empty: the first three of the region's zones that are up, in alphabetical order, as the Compute API lists them."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.zones) == 0 || length(var.zones) == 3
    error_message = "zones must name exactly three zones, or be empty."
  }
}

variable "prefix" {
  description = "Starts the name of everything this creates, so several deployments can share a project."
  type        = string
  default     = "fraudstream"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.prefix))
    error_message = "prefix must be 3-20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "ops_agent" {
  description = "Install Google's Ops Agent on every VM, so that the services' logs (the journal) reach Cloud Logging and the VMs' metrics Cloud Monitoring."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets with every object and old version in them. Keep false while the lake matters; `make infra-destroy` sets it for the teardown."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Network and access

variable "subnet_cidr" {
  description = "The subnet every VM is in; Kafka and the registry answer only to it."
  type        = string
  default     = "10.20.0.0/24"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be an IPv4 CIDR block such as 10.20.0.0/24."
  }
}

variable "confirmation_domain" {
  description = "A domain name (e.g. confirm.example.com) for the confirmation service behind an HTTPS load balancer with a Google-managed certificate. Empty: no load balancer; the service is reachable through an IAP tunnel only."
  type        = string
  default     = ""

  validation {
    condition     = var.confirmation_domain == "" || can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.confirmation_domain))
    error_message = "confirmation_domain must be empty or a lowercase domain name such as confirm.example.com."
  }
}

variable "confirmation_rate_limit" {
  description = "Cloud Armor's limits per client address in front of the confirmation service (with confirmation_domain): requests a minute before 429s; requests in five minutes past which the address is banned; and for how many minutes."
  type = object({
    per_minute    = optional(number, 120)
    ban_threshold = optional(number, 1000)
    ban_minutes   = optional(number, 10)
  })
  default = {}

  validation {
    condition     = var.confirmation_rate_limit.per_minute >= 10 && var.confirmation_rate_limit.ban_threshold > var.confirmation_rate_limit.per_minute && var.confirmation_rate_limit.ban_minutes >= 1
    error_message = "confirmation_rate_limit: per_minute at least 10, ban_threshold above it, ban_minutes at least 1."
  }
}

# ---------------------------------------------------------------------------
# Kafka

variable "kafka_layout" {
  description = "\"spread\": three VMs in three zones, one KRaft broker each: losing a VM or a zone loses no committed record (the pipeline VMs and the schema registry are in the first zone, so losing that one pauses the pipeline until it returns). \"single\": all three brokers on one VM, for a cheap demo."
  type        = string
  default     = "spread"

  validation {
    condition     = contains(["spread", "single"], var.kafka_layout)
    error_message = "kafka_layout must be \"spread\" or \"single\"."
  }
}

variable "kafka_machine_type" {
  description = "Machine type of each Kafka VM (the first also runs the schema registry and Kafka UI)."
  type        = string
  default     = "e2-standard-2"
}

variable "kafka_disk_gb" {
  description = "Size of each Kafka VM's data disk (pd-balanced), in GB."
  type        = number
  default     = 100

  validation {
    condition     = var.kafka_disk_gb >= 10 && var.kafka_disk_gb <= 65536
    error_message = "kafka_disk_gb must be between 10 and 65536."
  }
}

# ---------------------------------------------------------------------------
# The pipeline

variable "app_machine_type" {
  description = "Machine type of the producer and the two consumer VMs."
  type        = string
  default     = "e2-medium"
}

variable "confirmation_machine_type" {
  description = "Machine type of the confirmation service's VM, which serves the links of the fraud emails and nothing else."
  type        = string
  default     = "e2-small"
}

variable "producer_count" {
  description = "Producer VMs, each streaming its own shard (--shard I/N) of the file: every row once between them."
  type        = number
  default     = 1

  validation {
    condition     = var.producer_count == floor(var.producer_count) && var.producer_count >= 1 && var.producer_count <= 16
    error_message = "`producer_count` must be a whole number from 1 to 16."
  }
}

variable "consumer_count" {
  description = "VMs of each email consumer kind: `fraud` (the fraud emails and the case table) and `non_fraud` (the notifications); with `consumer_autoscaling`, the fewest. The members of a kind share its topic's partitions, so no kind may have more VMs than `topic_partitions`; docs/cloud.md gives how many a load needs."
  type        = object({ fraud = number, non_fraud = number })
  default     = { fraud = 1, non_fraud = 1 }

  validation {
    condition     = alltrue([for count in values(var.consumer_count) : count == floor(count) && count >= 1 && count <= 32])
    error_message = "Each of `consumer_count` must be a whole number from 1 to 32."
  }
}

variable "consumer_autoscaling" {
  description = "Email consumer kinds (`fraud`, `non_fraud`) whose VMs grow with their Kafka lag: one VM for every `lag_per_vm` records behind, from `consumer_count` up to `max_vms` (at most `topic_partitions`). A kind not named keeps `consumer_count` VMs."
  type        = map(object({ max_vms = number, lag_per_vm = number }))
  default     = {}

  validation {
    condition     = alltrue([for kind in keys(var.consumer_autoscaling) : contains(["fraud", "non_fraud"], kind)])
    error_message = "`consumer_autoscaling` takes the kinds `fraud` and `non_fraud`."
  }

  validation {
    condition = alltrue([for scaling in values(var.consumer_autoscaling) :
    scaling.max_vms == floor(scaling.max_vms) && scaling.max_vms >= 1 && scaling.max_vms <= 32 && scaling.lag_per_vm >= 1])
    error_message = "Each `max_vms` of `consumer_autoscaling` must be a whole number from 1 to 32, and each `lag_per_vm` at least 1."
  }
}

variable "package_path" {
  description = "The release archive the VMs install, made by `make dist`: the source and every wheel requirements.lock pins."
  type        = string
  default     = "../dist/fraudstream.tar.gz"

  validation {
    condition     = fileexists(var.package_path)
    error_message = "package_path must name an existing file: run `make dist` first."
  }
}

variable "dataset_local_path" {
  description = "A PaySim CSV on this machine to upload into the dataset bucket as dataset_object. Empty: upload nothing (put the file there yourself)."
  type        = string
  default     = ""

  validation {
    condition     = var.dataset_local_path == "" ? true : fileexists(var.dataset_local_path)
    error_message = "dataset_local_path must be empty or name an existing file."
  }
}

variable "dataset_object" {
  description = "The object in the dataset bucket the producer streams."
  type        = string
  default     = "paysim/PS_20174392719_1491204439457_log.csv"
}

variable "detector" {
  description = "The producer's fraud verdict: label, threshold, rules, logreg, iforest, gbm or package.module:Class."
  type        = string
  default     = "label"

  validation {
    condition     = contains(["label", "threshold", "rules", "logreg", "iforest", "gbm"], var.detector) || can(regex("^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$", var.detector))
    error_message = "detector must be label, threshold, rules, logreg, iforest, gbm or package.module:Class."
  }
}

variable "detector_model_path" {
  description = "Local path of the ONNX model `fraudstream train` wrote, for detector logreg, iforest or gbm; uploaded to the artifacts bucket, which the producer reads it from."
  type        = string
  default     = ""

  validation {
    condition     = var.detector_model_path == "" || endswith(var.detector_model_path, ".onnx")
    error_message = "detector_model_path must be an .onnx file written by `fraudstream train`."
  }
}

variable "topic_partitions" {
  description = "Partitions of the transaction topics: how many consumers of a group can share the work."
  type        = number
  default     = 6

  validation {
    condition     = var.topic_partitions >= 1 && var.topic_partitions <= 1000
    error_message = "topic_partitions must be between 1 and 1000."
  }
}

variable "smtp_host" {
  description = "The SMTP server the consumers send through (STARTTLS on port 587)."
  type        = string
}

variable "smtp_port" {
  description = "The SMTP server's port."
  type        = number
  default     = 587

  validation {
    condition     = var.smtp_port > 0 && var.smtp_port < 65536
    error_message = "smtp_port must be a TCP port."
  }
}

variable "smtp_username" {
  description = "The SMTP login."
  type        = string
}

variable "smtp_password" {
  description = "The SMTP password your mail provider gave, stored in Secret Manager (and, like every secret Terraform writes, in the state: keep the state private). Give it in terraform.tfvars or as TF_VAR_smtp_password."
  type        = string
  sensitive   = true

  validation {
    condition     = length(trimspace(var.smtp_password)) > 0 && !contains(["change-me", "changeme", "password", "secret"], lower(var.smtp_password))
    error_message = "smtp_password must be the password your mail provider gave; a placeholder is refused."
  }
}

variable "mail_from" {
  description = "The sender of the customer emails."
  type        = string

  validation {
    condition     = can(regex("@", var.mail_from))
    error_message = "mail_from must be an email address."
  }
}

variable "brand" {
  description = "What the customer emails and confirmation pages show: the bank's name; how a customer reaches a person (a phone number, an address); a logo (an https:// image, or empty); the accent colour, under white text; the currency (ISO 4217) and the locale its amounts are written in; and where replies to the emails go (empty: the emails invite none)."
  type = object({
    bank_name       = string
    support_contact = string
    logo_url        = optional(string, "")
    colour          = optional(string, "#0b4f8a")
    currency        = optional(string, "USD")
    locale          = optional(string, "en_US")
    reply_to        = optional(string, "")
  })

  validation {
    condition = alltrue([for value in values(var.brand) : !can(regex("[\r\n]", value))]) && (
      length(var.brand.bank_name) > 0 && length(var.brand.bank_name) <= 80 &&
      length(var.brand.support_contact) > 0 && length(var.brand.support_contact) <= 200
    )
    error_message = "brand: bank_name (at most 80 characters) and support_contact (at most 200) must be set, and no value may hold a line break."
  }
  validation {
    condition     = var.brand.logo_url == "" || can(regex("^https://", var.brand.logo_url))
    error_message = "brand.logo_url must be an https:// address (mail clients block plain http images), or empty."
  }
  validation {
    condition     = can(regex("^#[0-9a-fA-F]{6}$", var.brand.colour)) && can(regex("^[A-Z]{3}$", var.brand.currency))
    error_message = "brand.colour must be #rrggbb and brand.currency an ISO 4217 code such as USD; the services also check that white text on the colour is readable."
  }
  validation {
    condition     = var.brand.reply_to == "" || can(regex("^[^@\\s]+@[^@\\s]+$", var.brand.reply_to))
    error_message = "brand.reply_to must be an email address, or empty."
  }
}

variable "customer_email_domain" {
  description = "Customers without an address of their own are <nameOrig>@ this domain."
  type        = string
  default     = "customers.fraudstream.example"
}

# ---------------------------------------------------------------------------
# Secrets: `make secrets` draws each at random into secrets.auto.tfvars.json,
# which Terraform reads by itself and git ignores; docs/secrets.md says who
# reads each and how to rotate it. Each is 32 random bytes in base64 (43
# characters or more); a placeholder is refused.

variable "confirmation_token_key" {
  description = "The HMAC key that signs the links in the fraud emails, stored in Secret Manager; read by the fraud consumer (signs) and the confirmation service (verifies). From `make secrets`."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+/_-]{43,}={0,2}$", var.confirmation_token_key)) && !can(regex("(?i)change|example|placeholder|secret|password|replace", var.confirmation_token_key))
    error_message = "confirmation_token_key must be 32 or more random bytes in base64, as `make secrets` writes it; a placeholder is refused."
  }
}

variable "consumer_note_key" {
  description = "The HMAC key the two email consumers seal their commit notes with, stored in Secret Manager; read by them alone. From `make secrets`."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+/_-]{43,}={0,2}$", var.consumer_note_key)) && !can(regex("(?i)change|example|placeholder|secret|password|replace", var.consumer_note_key))
    error_message = "consumer_note_key must be 32 or more random bytes in base64, as `make secrets` writes it; a placeholder is refused."
  }
}

variable "kafka_passwords" {
  description = "The SCRAM password of each Kafka principal: admin, producer, fraud-consumer, non-fraud-consumer, cases-consumer, confirmation-service, schema-registry, lag-watcher and kafka-ui; each in Secret Manager, read by the VM that logs in as it (and by `setup`, which makes the principals). From `make secrets`."
  type        = map(string)
  sensitive   = true

  validation {
    condition     = alltrue([for password in values(var.kafka_passwords) : can(regex("^[A-Za-z0-9+/_-]{43,}={0,2}$", password)) && !can(regex("(?i)change|example|placeholder|secret|password|replace", password))])
    error_message = "Each of kafka_passwords must be 32 or more random bytes in base64, as `make secrets` writes them; a placeholder is refused."
  }
}

variable "kafka_ui_login_password" {
  description = "The password of Kafka UI's login form (user \"admin\"), in Secret Manager. From `make secrets`."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+/_-]{43,}={0,2}$", var.kafka_ui_login_password)) && !can(regex("(?i)change|example|placeholder|secret|password|replace", var.kafka_ui_login_password))
    error_message = "kafka_ui_login_password must be 32 or more random bytes in base64, as `make secrets` writes it; a placeholder is refused."
  }
}

variable "registry_passwords" {
  description = "The schema registry's two logins: \"setup\" registers schemas (the producer VM's setup only), \"services\" reads them (every service). In Secret Manager. From `make secrets`."
  type        = map(string)
  sensitive   = true

  validation {
    condition     = alltrue([for password in values(var.registry_passwords) : can(regex("^[A-Za-z0-9+/_-]{43,}={0,2}$", password)) && !can(regex("(?i)change|example|placeholder|secret|password|replace", password))])
    error_message = "Each of registry_passwords must be 32 or more random bytes in base64, as `make secrets` writes them; a placeholder is refused."
  }
}

variable "cases_database_password" {
  description = "The password of the case table's database user, in Secret Manager inside the URL the case consumer reads. From `make secrets`."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+/_-]{43,}={0,2}$", var.cases_database_password)) && !can(regex("(?i)change|example|placeholder|secret|password|replace", var.cases_database_password))
    error_message = "cases_database_password must be 32 or more random bytes in base64, as `make secrets` writes it; a placeholder is refused."
  }
}

variable "cases_database_tier" {
  type        = string
  description = "Machine tier of the Cloud SQL for PostgreSQL instance that holds the fraud case table."
  default     = "db-g1-small"

  validation {
    condition     = can(regex("^db-(f1-micro|g1-small|custom-[0-9]+-[0-9]+|perf-optimized-N-[0-9]+)$", var.cases_database_tier))
    error_message = "cases_database_tier must be a Cloud SQL tier such as db-g1-small or db-custom-2-7680."
  }
}

variable "alert_notification_channels" {
  description = "Cloud Monitoring notification channels (projects/P/notificationChannels/ID) the alerts go to; none: they show in the console only."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for channel in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", channel))])
    error_message = "Each channel is projects/PROJECT/notificationChannels/ID."
  }
}

variable "fraud_email_latency_alert_seconds" {
  description = "Seconds from a live payment to its fraud confirmation email (99th percentile over 5 minutes) above which, for 5 minutes, an alert is raised."
  type        = number
  default     = 1
  validation {
    condition     = var.fraud_email_latency_alert_seconds > 0
    error_message = "The threshold is a number of seconds, more than 0."
  }
}

variable "lag_alert_threshold" {
  description = "Records behind, summed over a consumer group's partitions, above which a lag that keeps rising raises an alert."
  type        = number
  default     = 10000
  validation {
    condition     = var.lag_alert_threshold >= 0
    error_message = "The threshold is a number of records, 0 or more."
  }
}
