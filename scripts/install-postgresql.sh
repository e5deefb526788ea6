#!/usr/bin/env bash
# Debian's PostgreSQL server, which the local stack runs for the fraud case table.
# Installs it when this user may install Debian packages; otherwise says what to do.
# Only the programs are used: the stack makes its own cluster on 127.0.0.1:15432,
# and any cluster the package starts by itself is left alone.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "PostgreSQL is not installed and this user cannot install Debian packages:" \
         "install the 'postgresql' package, then start the stack again" >&2
    exit 1
fi
echo "installing Debian's postgresql for the local stack" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
