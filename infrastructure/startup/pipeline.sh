#!/bin/bash
# Startup script of a producer or consumer VM: runs on every boot, configured
# by instance metadata. Installs the release archive into a virtualenv, writes
# the settings (and the secrets, read from Secret Manager) to a root-only
# environment file, and runs each service of this VM as a systemd unit.
set -euo pipefail

HOME_DIR=/opt/fraudstream
ENV_FILE=/etc/fraudstream/env

metadata() {
  curl -sSf -H "Metadata-Flavor: Google" \
    "http://metadata.google.internal/computeMetadata/v1/instance/attributes/$1"
}

install_release() {
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
  id fraudstream >/dev/null 2>&1 || useradd --system --home-dir /var/lib/fraudstream fraudstream
  rm -rf "$HOME_DIR/src" && mkdir -p "$HOME_DIR/src"
  gcloud storage cp "$(metadata fraudstream-package)" "$HOME_DIR/release.tar.gz"
  tar -xzf "$HOME_DIR/release.tar.gz" -C "$HOME_DIR/src"
  python3 -m venv "$HOME_DIR/venv"
  "$HOME_DIR/venv/bin/pip" install --quiet "$HOME_DIR/src"
}

write_environment() {
  install -d -m 0750 /etc/fraudstream
  umask 077
  {
    metadata fraudstream-settings
    echo
    echo "FRAUDSTREAM_SCHEMA_DIR=$HOME_DIR/src/schemas"
    echo "FRAUDSTREAM_TEMPLATE_DIR=$HOME_DIR/src/email_templates"
    for pair in $(metadata fraudstream-secrets); do
      echo "${pair%%=*}=$(gcloud secrets versions access latest --secret="${pair#*=}")"
    done
  } >"$ENV_FILE.new"
  mv "$ENV_FILE.new" "$ENV_FILE"
}

command_of() {
  case "$1" in
    setup) echo "setup --no-buckets" ;;
    produce) echo "produce $(metadata fraudstream-source)" ;;
    consume-fraud) echo "consume fraud" ;;
    consume-non-fraud) echo "consume non-fraud" ;;
    confirmation-service) echo "confirmation-service" ;;
    *) echo "unknown service: $1" >&2; return 1 ;;
  esac
}

# Topics and schemas live inside the private network, out of Terraform's
# reach: "setup" creates them (idempotent, so every pipeline VM runs it and
# the first one to get through does the work), retried until Kafka and the
# registry answer. The services start after it and check what they need;
# until it has succeeded they exit and are restarted.
# The producer exits when the file is done (Restart=on-failure); a consumer
# or the service runs until stopped. SIGTERM lets a consumer finish its batch.
write_unit() {
  local service=$1 restart=always type=simple after="network-online.target"
  [ "$service" = produce ] && restart=on-failure
  [ "$service" = setup ] && restart=on-failure && type=oneshot
  [ "$service" != setup ] && after="$after fraudstream-setup.service"
  cat >"/etc/systemd/system/fraudstream-$service.service" <<UNIT
[Unit]
Description=fraudstream $service
After=$after
Wants=$after

[Service]
Type=$type
User=fraudstream
EnvironmentFile=$ENV_FILE
ExecStart=$HOME_DIR/venv/bin/fraudstream $(command_of "$service")
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

install_release
write_environment
for service in setup $(metadata fraudstream-services); do
  write_unit "$service"
done
systemctl daemon-reload
for service in setup $(metadata fraudstream-services); do
  systemctl enable "fraudstream-$service"
  systemctl restart --no-block "fraudstream-$service"
done
