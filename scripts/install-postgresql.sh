#!/usr/bin/env bash
# Debian's PostgreSQL server, which the local stack runs for the fraud case table.
# Installs it when this user may install Debian packages; otherwise says what to do.
# Only the programs are used: the stack makes its own cluster on 127.0.0.1:15432,
# and any cluster the package starts by itself is left alone.
set -euo pipefail
source "$(dirname "$0")/debian-package.sh"

if compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    exit 0
fi
if ! install_debian_package postgresql "for the local stack"; then
    echo "PostgreSQL is not installed and this user cannot install Debian packages:" \
         "install the 'postgresql' package, then start the stack again" >&2
    exit 1
fi
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
