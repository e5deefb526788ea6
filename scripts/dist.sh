#!/bin/bash
# The release archive the cloud VMs install: dist/fraudstream.tar.gz, holding
#   src/      a git archive of HEAD (settings, schemas, templates, requirements.lock)
#   wheels/   every wheel requirements.lock pins, for CPython 3.11 on Debian 12,
#             checked against its hashes, and the project's own wheel
# A VM installs it with no index (infrastructure/startup/pipeline.sh), so the
# same archive installs the same versions at every boot.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
OUT=${1:-$ROOT/dist/fraudstream.tar.gz}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/src" "$stage/wheels" "$(dirname "$OUT")"
git -C "$ROOT" archive HEAD | tar -x -C "$stage/src"
"$PYTHON" "$ROOT/scripts/vm_wheels.py" download "$stage/wheels"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$stage/wheels" "$stage/src"
tar -czf "$OUT.new" -C "$stage" src wheels
mv "$OUT.new" "$OUT"
echo "$OUT: $(du -h "$OUT" | cut -f1), $(ls "$stage/wheels" | wc -l) wheels"
