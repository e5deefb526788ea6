#!/usr/bin/env bash
# Debian's chromium, for the test that opens the emails and the confirmation
# pages as a customer would. Installs it when this user may install Debian
# packages; otherwise says so, and that test skips with the same reason.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "chromium is not installed and this user cannot install Debian packages:" \
         "the browser test will skip (install the 'chromium' package to run it)" >&2
    exit 0
fi
echo "installing Debian's chromium for the browser test" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
