"""A cloud VM's boot, rehearsed on loopback.

The startup script Terraform gives a pipeline VM runs here unchanged, as a
user, under a scratch root directory (BOOT_ROOT). What it would ask of Google
Cloud is served locally:
- the metadata server by `MetadataServer`, which demands the `Metadata-Flavor`
  header as the real one does and can fail its first requests;
- `gcloud` by a shim that downloads from the GCS emulator and reads secrets from
  a file, and can fail its first calls as a VM does before its grants arrive;
- `apt-get`, `useradd` and `systemctl` by a recorder.
The systemd units the script writes are then read, and their commands run as
processes with their environment files.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.terraform_config import startup_script

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP = REPO_ROOT / "infrastructure" / "startup"
SHIMS = Path(__file__).resolve().parent / "vm_shims"
ATTRIBUTES = "/computeMetadata/v1/instance/attributes/"


class MetadataServer:
    """Instance attributes on loopback; the first ``failures`` requests get a 503."""

    def __init__(self, attributes: dict[str, str], failures: int = 0) -> None:
        self.attributes = attributes
        self.failures = failures
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/computeMetadata/v1"

    def __enter__(self) -> MetadataServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str, flavor: str | None) -> tuple[HTTPStatus, str]:
        self.requests += 1
        if self.requests <= self.failures:
            return HTTPStatus.SERVICE_UNAVAILABLE, "try again"
        if flavor != "Google":
            return HTTPStatus.FORBIDDEN, "Missing Metadata-Flavor:Google header."
        name = path.removeprefix(ATTRIBUTES)
        if not path.startswith(ATTRIBUTES) or name not in self.attributes:
            return HTTPStatus.NOT_FOUND, "not found"
        return HTTPStatus.OK, self.attributes[name]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = server._answer(self.path, self.headers.get("Metadata-Flavor"))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        return Handler


@dataclass
class RehearsedVM:
    """One VM's scratch root, its shims, and what its boots recorded."""

    directory: Path
    secrets: dict[str, str]
    gcloud_failures: dict[str, int] = field(default_factory=dict)
    recorded: tuple[str, ...] = ()  # more commands answered by the recorder (docker, mount)

    def __post_init__(self) -> None:
        self.root = self.directory / "root"
        self.state = self.directory / "state"
        self.bin = self.directory / "bin"
        for path in (self.root, self.state, self.bin):
            path.mkdir(parents=True, exist_ok=True)
        self._shim("gcloud", SHIMS / "gcloud.py")
        for command in ("apt-get", "useradd", "systemctl", *self.recorded):
            self._shim(command, SHIMS / "recorder.py")
        (self.directory / "secrets.json").write_text(json.dumps(self.secrets))

    def _shim(self, name: str, source: Path) -> None:
        path = self.bin / name
        path.write_text(f"#!{sys.executable}\n{source.read_text()}")
        path.chmod(0o755)

    def boot(
        self,
        role: str,
        metadata_url: str,
        storage_emulator_host: str,
        traced: Path | None = None,
        **variables: str,
    ) -> subprocess.CompletedProcess[str]:
        """Run the startup script once, as the VM would at boot; with ``traced``, under
        strace, which writes every command line the boot runs there (``command_lines``)."""
        script = self.directory / f"{role}-startup.sh"
        script.write_text(startup_script(role))
        failures = ",".join(f"{kind}={count}" for kind, count in self.gcloud_failures.items())
        environment = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.directory),
            "LANG": "C.UTF-8",
            "BOOT_ROOT": str(self.root),
            "METADATA_URL": metadata_url,
            "STORAGE_EMULATOR_HOST": storage_emulator_host,
            "REHEARSAL_STATE": str(self.state),
            "REHEARSAL_SECRETS": str(self.directory / "secrets.json"),
            "REHEARSAL_FAILURES": failures,
            **variables,
        }
        tracing = ["strace", "-f", "-qq", "-e", "trace=execve", "-s", "100000", "-o", str(traced)]
        return subprocess.run(
            [*(tracing if traced else []), "bash", str(script)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def command_lines(self, traced: Path) -> list[str]:
        """Every program the traced boot ran, with its arguments, as strace wrote it."""
        return [line for line in traced.read_text().splitlines() if " execve(" in line]

    @property
    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def units(self) -> dict[str, Unit]:
        directory = self.root / "etc" / "systemd" / "system"
        return {
            path.stem.removeprefix("fraudstream-"): Unit.read(path, self.root)
            for path in sorted(directory.glob("fraudstream-*.service"))
        }


@dataclass(frozen=True)
class Unit:
    """A systemd unit the script wrote: what `systemctl start` would run, and how."""

    text: str
    command: list[str]
    before: list[list[str]]  # ExecStartPre: each runs to success before the command
    environment: dict[str, str]
    restart: str
    type: str

    @classmethod
    def read(cls, path: Path, root: Path) -> Unit:
        text = path.read_text()
        lines = [line.split("=", 1) for line in text.splitlines() if "=" in line]
        entries = dict(lines)
        environment: dict[str, str] = {}
        credentials: dict[str, str] = {}
        for key, value in lines:  # in order: a later setting wins, as in systemd
            if key == "EnvironmentFile":
                assert Path(value).is_relative_to(root), value
                environment |= _environment_file(Path(value))
            elif key == "LoadCredential":
                name, source = value.split(":", 1)
                assert Path(source).is_relative_to(root), source
                credentials[name] = source
            elif key == "Environment":
                name, setting = value.split("=", 1)
                # %d is the service's credentials directory: here, the credential's source.
                for credential, source in credentials.items():
                    setting = setting.replace(f"%d/{credential}", source)
                environment[name] = setting
        return cls(
            text=text,
            command=shlex.split(entries["ExecStart"]),
            before=[shlex.split(value) for key, value in lines if key == "ExecStartPre"],
            environment=environment,
            restart=entries["Restart"],
            type=entries["Type"],
        )

    def start(self, base: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        for command in self.before:
            subprocess.run(
                command,
                env={**base, **self.environment},
                cwd=log.parent,
                stdout=log.open("ab"),
                stderr=subprocess.STDOUT,
                check=True,
            )
        return subprocess.Popen(
            self.command,
            env={**base, **self.environment},
            cwd=log.parent,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )


def _environment_file(path: Path) -> dict[str, str]:
    """NAME=value lines, as systemd's EnvironmentFile= reads the ones the script writes."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name.strip(): value for name, value in pairs}
