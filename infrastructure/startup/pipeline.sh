# Startup script of a producer or consumer VM (after common.sh): runs at every
# boot, configured by instance metadata. Installs the release archive, whose
# wheels requirements.lock pins, into a virtualenv of its own; writes the
# settings (and the secrets, read from Secret Manager) to a root-only
# environment file; runs each service of this VM as a systemd unit.
# The boot rehearsal in the tests runs it under BOOT_ROOT, a scratch directory.

ROOT_DIR=${BOOT_ROOT:-}
HOME_DIR=$ROOT_DIR/opt/fraudstream
CONFIG_DIR=$ROOT_DIR/etc/fraudstream
UNIT_DIR=$ROOT_DIR/etc/systemd/system
ENV_FILE=$CONFIG_DIR/env
CA_DIR=$ROOT_DIR/etc/fraudstream-tls

# One directory per archive, named by its digest: a reboot with the same
# archive reuses it, a new archive gets a new one, and `current` points at it.
install_release() {
  local archive=$HOME_DIR/release.tar.gz package digest release
  package=$(metadata fraudstream-package)
  mkdir -p "$HOME_DIR/releases"
  retry "download $package" gcloud storage cp "$package" "$archive.new"
  mv "$archive.new" "$archive"
  digest=$(sha256sum "$archive" | cut -c1-16)
  release=$HOME_DIR/releases/$digest
  if [ ! -e "$release/installed" ]; then
    rm -rf "$release" && mkdir -p "$release"
    tar -xzf "$archive" -C "$release"
    python3 -m venv "$release/venv"
    "$release/venv/bin/pip" install --quiet --no-index --find-links "$release/wheels" \
      --require-hashes --requirement "$release/src/requirements.lock"
    "$release/venv/bin/pip" install --quiet --no-index --no-deps "$release"/wheels/fraudstream-*.whl
    touch "$release/installed"
  fi
  ln -sfn "$release" "$HOME_DIR/current"
}

# write_file PATH: standard input into PATH, readable by root only, replaced at once.
write_file() {
  (umask 077 && cat >"$1.new")
  mv "$1.new" "$1"
}

write_environment() {
  local settings secrets pair lines
  settings=$(metadata fraudstream-settings)
  secrets=$(metadata fraudstream-secrets)
  install -d -m 0750 "$CONFIG_DIR"
  lines=$settings
  for pair in $secrets; do
    lines="$lines
${pair%%=*}=$(secret "${pair#*=}")"
  done
  echo "$lines" | write_file "$ENV_FILE"
}

# The authorities the services check their servers against, from where instance
# metadata says: the deployment's own (Kafka's listeners, the registry's front door;
# TLS_CA_FILE) and the case table's Cloud SQL instance's (the database URL's
# sslrootcert). Public certificates, which the services' user reads.
write_certificates() {
  local name address
  install -d -m 0755 "$CA_DIR"
  for name in tls-ca database-ca; do
    address=$(metadata "fraudstream-$name")
    retry "download $address" gcloud storage cp "$address" "$CA_DIR/$name.pem.new"
    chmod 0644 "$CA_DIR/$name.pem.new"
    mv "$CA_DIR/$name.pem.new" "$CA_DIR/$name.pem"
  done
}

# Each service's logins in a file of its own, which only its unit reads
# (systemd reads it, as root): its Kafka principal and, where it has one, its
# schema registry login (setup's may register schemas, the services' only read
# them). `setup` also needs the file of every service principal's password,
# which the process itself reads: systemd hands it over as a credential
# (LoadCredential=), readable by that service alone.
write_service_logins() {
  local logins registry principals entry service principal secret_id pair lines=""
  logins=$(metadata fraudstream-kafka-logins)
  registry=$(metadata fraudstream-registry-logins)
  principals=$(metadata fraudstream-kafka-principals)
  for entry in $principals; do
    lines="$lines${entry%%=*}=$(secret "${entry#*=}")
"
  done
  [ -z "$principals" ] || printf '%s' "$lines" | write_file "$CONFIG_DIR/kafka-principals"
  for entry in $logins; do
    IFS== read -r service principal secret_id <<<"$entry"
    lines="KAFKA_USERNAME=$principal
KAFKA_PASSWORD=$(secret "$secret_id")"
    for pair in $registry; do
      if [ "${pair%%=*}" = "$service" ]; then
        lines="$lines
SCHEMA_REGISTRY_LOGIN=$(secret "${pair#*=}")"
      fi
    done
    echo "$lines" | write_file "$CONFIG_DIR/logins-$service.env"
  done
}

command_of() {
  case "$1" in
    setup) echo "setup --no-buckets --no-database" ;;
    produce) echo "produce $source --shard $(metadata fraudstream-shard)" ;;
    consume-fraud) echo "consume fraud" ;;
    consume-non-fraud) echo "consume non-fraud" ;;
    consume-cases) echo "consume cases" ;;
    confirmation-service) echo "confirmation-service" ;;
    watch-lag) echo "watch-lag" ;;
    *) echo "unknown service: $1" >&2; return 1 ;;
  esac
}

# Each long-running service serves its Prometheus metrics on a loopback port of
# its own (METRICS_PORT), which the Ops Agent scrapes; setup serves none.
metrics_port_of() {
  case "$1" in
    produce) echo 9101 ;;
    consume-non-fraud) echo 9102 ;;
    consume-fraud) echo 9103 ;;
    consume-cases) echo 9104 ;;
    confirmation-service) echo 9105 ;;
    watch-lag) echo 9106 ;;
    *) echo "" ;;
  esac
}

# The Ops Agent's "metrics:" section: a Prometheus receiver over this VM's services.
ops_agent_metrics() {
  local service port targets=""
  for service in $services; do
    port=$(metrics_port_of "$service")
    [ -z "$port" ] || targets="$targets${targets:+, }'127.0.0.1:$port'"
  done
  [ -n "$targets" ] || return 0
  cat <<METRICS
metrics:
  receivers:
    fraudstream:
      type: prometheus
      config:
        scrape_configs:
          - job_name: fraudstream
            scrape_interval: 30s
            static_configs:
              - targets: [$targets]
  service:
    pipelines:
      fraudstream:
        receivers: [fraudstream]
METRICS
}

# Topics, schemas and Kafka principals live inside the private network, out of
# Terraform's reach: "setup", on the producer VM, creates them as Kafka's
# administrator (idempotent), retried until Kafka and the registry answer. The
# services check at start what they need; until it exists they exit and are
# restarted.
# The producer exits when the file is done (Restart=on-failure); a consumer
# or the service runs until stopped. SIGTERM lets a consumer finish its batch.
write_unit() {
  local service=$1 restart=always type=simple after="network-online.target" command login="" port
  command=$(command_of "$service")
  [ "$service" = produce ] && restart=on-failure
  [ "$service" = setup ] && restart=on-failure && type=oneshot
  if [ "$service" != setup ] && [[ " $services " == *" setup "* ]]; then
    after="$after fraudstream-setup.service"
  fi
  [ -e "$CONFIG_DIR/logins-$service.env" ] && login="EnvironmentFile=$CONFIG_DIR/logins-$service.env"
  # The case table is migrated (idempotent) before each start of its consumer.
  [ "$service" = consume-cases ] &&
    login="$login
ExecStartPre=$HOME_DIR/current/venv/bin/fraudstream migrate"
  port=$(metrics_port_of "$service")
  [ -z "$port" ] || login="$login
Environment=METRICS_PORT=$port"
  if [ "$service" = setup ] && [ -e "$CONFIG_DIR/kafka-principals" ]; then
    login="$login
LoadCredential=kafka-principals:$CONFIG_DIR/kafka-principals
Environment=KAFKA_PRINCIPALS_FILE=%d/kafka-principals"
  fi
  mkdir -p "$UNIT_DIR"
  cat >"$UNIT_DIR/fraudstream-$service.service" <<UNIT
[Unit]
Description=fraudstream $service
After=$after
Wants=$after

[Service]
Type=$type
User=fraudstream
EnvironmentFile=$ENV_FILE
$login
ExecStart=$HOME_DIR/current/venv/bin/fraudstream $command
Restart=$restart
RestartSec=10
KillSignal=SIGTERM
TimeoutStopSec=120
StateDirectory=fraudstream
WorkingDirectory=/var/lib/fraudstream
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true

[Install]
WantedBy=multi-user.target
UNIT
}

write_environment
write_certificates
write_service_logins
source=$(metadata fraudstream-source)
services=$(metadata fraudstream-services)
install_ops_agent "$(ops_agent_metrics)"
apt_install python3-venv
id fraudstream >/dev/null 2>&1 || useradd --system --home-dir /var/lib/fraudstream fraudstream
install_release
for service in $services; do
  write_unit "$service"
done
systemctl daemon-reload
for service in $services; do
  systemctl enable "fraudstream-$service"
  systemctl restart --no-block "fraudstream-$service"
done
