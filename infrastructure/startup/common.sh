#!/bin/bash
# What every VM's boot steps share. compute.tf puts this file before kafka.sh
# or pipeline.sh in the startup-script metadata; the startup scripts run as
# root at every boot and must converge to the same state each time.
set -euo pipefail

# Instance metadata. The boot rehearsal in the tests serves it on loopback.
METADATA_URL=${METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}
# Attempts per boot step, and the first wait between two (doubling, at most 60 s).
BOOT_ATTEMPTS=${BOOT_ATTEMPTS:-10}
BOOT_FIRST_WAIT=${BOOT_FIRST_WAIT:-2}

# retry WHAT COMMAND...: run COMMAND until it succeeds, waiting longer after each
# failure. Grants can reach a new VM after it boots, and apt, PyPI and image
# pulls fail now and then. The last failure stops the boot with WHAT.
# COMMAND must be one command: inside a failing function `set -e` is off.
retry() {
  local what=$1 attempt=1 wait=$BOOT_FIRST_WAIT
  shift
  until "$@"; do
    if [ "$attempt" -ge "$BOOT_ATTEMPTS" ]; then
      echo "boot failed: $what, $attempt attempts" >&2
      exit 1
    fi
    echo "boot: $what failed (attempt $attempt of $BOOT_ATTEMPTS), again in ${wait}s" >&2
    sleep "$wait"
    attempt=$((attempt + 1))
    wait=$((wait * 2 > 60 ? 60 : wait * 2))
  done
}

# metadata NAME: an attribute of this VM. Call it as `value=$(metadata NAME)`,
# never inside `for ... in $(...)`, where a failure would go unnoticed.
metadata() {
  retry "read metadata $1" curl -sSf -H "Metadata-Flavor: Google" \
    "$METADATA_URL/instance/attributes/$1"
}

# secret NAME: the latest version of a Secret Manager secret; an empty one stops the
# boot. Call it as `value=$(secret NAME)`.
secret() {
  local value
  value=$(retry "read secret $1" gcloud secrets versions access latest --secret="$1")
  if [ -z "$value" ]; then
    echo "boot failed: secret $1 is empty" >&2
    exit 1
  fi
  echo "$value"
}

apt_install() {
  retry "apt-get update" apt-get -o DPkg::Lock::Timeout=300 update -q
  DEBIAN_FRONTEND=noninteractive retry "apt-get install $*" \
    apt-get -o DPkg::Lock::Timeout=300 install -y -q "$@"
}

# The Ops Agent sends the journal (every unit's log) to Cloud Logging and the
# VM's metrics to Cloud Monitoring. Installed once; metadata ops-agent=false skips it.
# install_ops_agent [METRICS]: the agent, shipping the journal to Cloud Logging and,
# given a "metrics:" section of its configuration, those metrics to Cloud Monitoring.
install_ops_agent() {
  local wanted metrics=${1:-}
  wanted=$(metadata ops-agent)
  [ "$wanted" = true ] || return 0
  if ! systemctl is-enabled google-cloud-ops-agent >/dev/null 2>&1; then
    retry "download the Ops Agent installer" curl -sSfo /tmp/add-ops-agent-repo.sh \
      https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh
    retry "install the Ops Agent" bash /tmp/add-ops-agent-repo.sh --also-install
  fi
  install -d /etc/google-cloud-ops-agent
  cat >/etc/google-cloud-ops-agent/config.yaml <<'CONFIG'
logging:
  receivers:
    journal:
      type: systemd_journald
  service:
    pipelines:
      journal:
        receivers: [journal]
CONFIG
  [ -z "$metrics" ] || echo "$metrics" >>/etc/google-cloud-ops-agent/config.yaml
  systemctl restart google-cloud-ops-agent
}
