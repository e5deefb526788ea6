#!/usr/bin/env bash
# Debian's nginx, for the test that puts the cloud's schema registry proxy
# (infrastructure/startup/kafka.sh) in front of the local stack's registry. Installs
# it, without starting the package's own server, when this user may install Debian
# packages; otherwise says so, and that test skips with the same reason.
set -euo pipefail
source "$(dirname "$0")/debian-package.sh"

if [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if ! install_debian_package nginx "for the registry proxy test" stopped; then
    echo "nginx is not installed and this user cannot install Debian packages:" \
         "the registry proxy test will skip (install the 'nginx' package to run it)" >&2
    exit 0
fi
[ -x /usr/sbin/nginx ]
