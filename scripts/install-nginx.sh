#!/usr/bin/env bash
# Debian's nginx and strace, for the tests of the cloud's startup scripts: nginx puts
# the schema registry proxy (infrastructure/startup/kafka.sh) in front of the local
# stack's registry; strace shows every command line a rehearsed boot runs, none of
# which may hold a secret. Installs them, without starting the package's own server,
# when this user may install Debian packages; otherwise says so, and those tests skip
# with the same reason.
set -euo pipefail
source "$(dirname "$0")/debian-package.sh"

if ! command -v strace >/dev/null &&
    ! install_debian_package strace "for the test that no secret is on a command line"; then
    echo "strace is not installed and this user cannot install Debian packages:" \
         "the startup scripts' command lines go unchecked (install the 'strace' package)" >&2
fi
if [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if ! install_debian_package nginx "for the registry proxy test" stopped; then
    echo "nginx is not installed and this user cannot install Debian packages:" \
         "the registry proxy test will skip (install the 'nginx' package to run it)" >&2
    exit 0
fi
[ -x /usr/sbin/nginx ]
