#!/usr/bin/env bash
# Debian's Prometheus, which the local stack runs to scrape the services' metrics and show
# them on its own graph pages (the local dashboard). Installs it when this user may install
# Debian packages; otherwise says what to do. Only the program and its web pages are used:
# the stack starts its own on 127.0.0.1:19090, and the package's own service is neither
# started now nor at boot.
set -euo pipefail
source "$(dirname "$0")/debian-package.sh"

if [ -x /usr/bin/prometheus ]; then
    exit 0
fi
if ! install_debian_package prometheus "for the local stack's dashboard" stopped; then
    echo "Prometheus is not installed and this user cannot install Debian packages:" \
         "install the 'prometheus' package, then start the stack again" >&2
    exit 1
fi
if [ -d /run/systemd/system ]; then  # a machine booted with systemd: not at its next boot either
    systemctl disable --quiet prometheus.service 2>/dev/null || true
fi
test -x /usr/bin/prometheus
