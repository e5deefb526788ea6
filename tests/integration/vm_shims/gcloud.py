"""`gcloud` on a rehearsed VM: the commands the startup scripts run, served locally.

    gcloud storage cp gs://BUCKET/OBJECT FILE            from the GCS emulator
    gcloud secrets versions access latest --secret=NAME  from the JSON file REHEARSAL_SECRETS
    gcloud privateca certificates create --csr=CSR --cert-output-file=OUT ...
                                                         signed by the authority whose
                                                         ca.pem and ca-key.pem are in
                                                         REHEARSAL_AUTHORITY, for a year

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


def certificate(options: dict[str, str]) -> int:
    """The CSR's subject and names, signed by the rehearsal's authority; the chain out."""
    import datetime  # noqa: PLC0415 - only this command needs them

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415

    authority = Path(os.environ["REHEARSAL_AUTHORITY"])
    ca = x509.load_pem_x509_certificate((authority / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((authority / "ca-key.pem").read_bytes(), None)
    request = x509.load_pem_x509_csr(Path(options["--csr"]).read_bytes())
    names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    now = datetime.datetime.now(datetime.UTC)
    issued = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(names, critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    chain = [issued.public_bytes(serialization.Encoding.PEM), (authority / "ca.pem").read_bytes()]
    Path(options["--cert-output-file"]).write_bytes(b"".join(chain))
    with (STATE / "calls.log").open("a") as log:
        log.write(f"gcloud privateca certificates create for {request.subject.rfc4514_string()}\n")
    return 0


def main(args: list[str]) -> int:
    if args[:2] == ["storage", "cp"] and len(args) == 4:
        return copy(args[2], args[3])
    if args[:4] == ["secrets", "versions", "access", "latest"] and len(args) == 5:
        return access(args[4].removeprefix("--secret="))
    if args[:3] == ["privateca", "certificates", "create"]:
        return certificate(dict(arg.split("=", 1) for arg in args[3:] if "=" in arg))
    print(f"gcloud shim: not rehearsed: {' '.join(args)}", file=sys.stderr)
    return 2


sys.exit(main(sys.argv[1:]))
