"""`gcloud` on a rehearsed VM: the two commands the startup scripts run, served locally.

    gcloud storage cp gs://BUCKET/OBJECT FILE            from the GCS emulator
    gcloud secrets versions access latest --secret=NAME  from the JSON file REHEARSAL_SECRETS

REHEARSAL_FAILURES ("storage=2,secrets=1") makes the first N calls of a kind fail
with a 403, as they do on a real VM until its grants have reached it.
"""

import json
import os
import sys
from pathlib import Path

from google.cloud import storage

STATE = Path(os.environ["REHEARSAL_STATE"])


def _fails_now(kind: str) -> bool:
    planned = dict(
        item.split("=") for item in os.environ.get("REHEARSAL_FAILURES", "").split(",") if item
    )
    counter = STATE / f"gcloud-{kind}-calls"
    calls = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(calls + 1))
    return calls < int(planned.get(kind, 0))


def copy(source: str, target: str) -> int:
    if _fails_now("storage"):
        print(
            f"ERROR: (gcloud.storage.cp) HTTPError 403: no storage.objects.get on {source}",
            file=sys.stderr,
        )
        return 1
    bucket, name = source.removeprefix("gs://").split("/", 1)
    storage.Client(project="rehearsal").bucket(bucket).blob(name).download_to_filename(target)
    return 0


def access(name: str) -> int:
    if _fails_now("secrets"):
        print(
            f"ERROR: (gcloud.secrets.versions.access) PERMISSION_DENIED on {name}", file=sys.stderr
        )
        return 1
    secrets = json.loads(Path(os.environ["REHEARSAL_SECRETS"]).read_text())
    if name not in secrets:
        print(f"ERROR: (gcloud.secrets.versions.access) NOT_FOUND: secret {name}", file=sys.stderr)
        return 1
    sys.stdout.write(secrets[name])
    return 0


def main(args: list[str]) -> int:
    if args[:2] == ["storage", "cp"] and len(args) == 4:
        return copy(args[2], args[3])
    if args[:4] == ["secrets", "versions", "access", "latest"] and len(args) == 5:
        return access(args[4].removeprefix("--secret="))
    print(f"gcloud shim: not rehearsed: {' '.join(args)}", file=sys.stderr)
    return 2


sys.exit(main(sys.argv[1:]))
