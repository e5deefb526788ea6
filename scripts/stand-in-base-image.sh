#!/usr/bin/env bash
# A stand-in for the Dockerfile's base image, python:3.11-slim, made from Debian 12's own
# packages (whose Python is 3.11) for an engine that can reach no image registry:
#
#   bash scripts/stand-in-base-image.sh python:3.11-slim [amd64|arm64]
#
# debootstrap lays down a minimal Debian 12 with python3, pip and venv; `python` and
# `pip` are put on the path as in the real image, and pip may install system-wide as
# there (Debian's EXTERNALLY-MANAGED marker is removed). The stand-in trusts the same
# certificate bundle as this machine, where a proxy may re-sign TLS: the build's pip
# reaches PyPI as the host's does. The real image, pulled elsewhere, needs none of it.
# arm64 on an x86-64 machine needs qemu-user-static (binfmt) to run the arm64 programs.
set -euo pipefail

image=${1:?usage: stand-in-base-image.sh IMAGE [amd64|arm64]}
arch=${2:-$(dpkg --print-architecture)}
if [ "$image" != python:3.11-slim ]; then
    echo "stand-in-base-image.sh: only python:3.11-slim has a stand-in, not $image" >&2
    exit 2
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

echo "building a stand-in $image ($arch) from Debian 12's packages:" \
     "no image registry answers here" >&2
debootstrap --variant=minbase --arch="$arch" \
    --include=python3,python3-pip,python3-venv,ca-certificates \
    bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1 ||
    { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log" "$root"/usr/lib/python3.*/EXTERNALLY-MANAGED
ln -sf python3 "$root/usr/bin/python"
ln -sf pip3 "$root/usr/bin/pip"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb

platform=()  # another machine's architecture is said; the engine's own is its default
[ "$arch" = "$(dpkg --print-architecture)" ] || platform=(--platform "linux/$arch")
tar -C "$root" -c . | docker import "${platform[@]}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "a stand-in for $image, from Debian 12's packages" \
    - "$image" >/dev/null
echo "$image: a stand-in from Debian 12's packages ($arch)" >&2
