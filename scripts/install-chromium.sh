#!/usr/bin/env bash
# Debian's chromium, for the tests that open the emails, the confirmation pages and
# the run report as a person would. Installs it when this user may install Debian
# packages; otherwise says so, and those tests skip with the same reason.
set -euo pipefail
source "$(dirname "$0")/debian-package.sh"

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if ! install_debian_package chromium "for the browser tests"; then
    echo "chromium is not installed and this user cannot install Debian packages:" \
         "the browser tests will skip (install the 'chromium' package to run them)" >&2
    exit 0
fi
command -v chromium >/dev/null
