"""The cloud's schema registry front door (infrastructure/startup/kafka.sh), run with Debian's
nginx in front of the local stack's registry: on HTTPS only, with a certificate of an
authority made here, which the clients check; nobody gets in without a login, the services'
login reads and looks schemas up and can change nothing, setup's registers."""

from __future__ import annotations

import getpass
import secrets
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from fraudstream.devstack.certificates import CA_FILE, NODE_FILE, ensure_certificates
from fraudstream.kafka import registry
from fraudstream.settings.config import Settings
from tests.integration.conftest import Stack, free_port
from tests.terraform_config import startup_script

pytestmark = pytest.mark.cloud

NGINX = Path("/usr/sbin/nginx")
ANSWER = registry.load_schema("fraud_confirmation")


def _kafka_sh(tmp_path: Path, call: str) -> str:
    script = tmp_path / "kafka-startup.sh"
    script.write_text(startup_script("kafka"))
    return subprocess.run(
        ["bash", "-c", f'source "{script}" && {call}'], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def logins() -> dict[str, SecretStr]:
    return {
        user: SecretStr(f"{user}:{secrets.token_urlsafe(32)}") for user in ("setup", "services")
    }


@pytest.fixture
def proxy(
    settings: Settings, stack: Stack, tmp_path: Path, logins: dict[str, SecretStr]
) -> Iterator[str]:
    """The proxy's address, nginx run from kafka.sh's configuration on a loopback port."""
    if not NGINX.is_file():
        pytest.skip("Debian's nginx is not installed: `make nginx` installs it")
    given = " ".join(f"'{login.get_secret_value()}'" for login in logins.values())
    (tmp_path / "passwords").write_text(_kafka_sh(tmp_path, f"registry_passwords {given}"))
    port = free_port()
    upstream = settings.schema_registry_url.rstrip("/") + "/"
    node = ensure_certificates(tmp_path / "tls") / NODE_FILE  # its key and certificate
    call = (
        f"registry_proxy_config 127.0.0.1:{port} {upstream} {tmp_path / 'passwords'} {node} {node}"
    )
    (tmp_path / "registry.conf").write_text(_kafka_sh(tmp_path, call))
    temporary = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (tmp_path / "nginx.conf").write_text(
        f"user {getpass.getuser()};\ndaemon off;\npid {tmp_path / 'nginx.pid'};\n"
        f"error_log {tmp_path / 'error.log'};\nevents {{}}\nhttp {{\n  access_log off;\n"
        f"  client_body_temp_path {temporary['body']};\n  proxy_temp_path {temporary['proxy']};\n"
        f"  fastcgi_temp_path {temporary['fastcgi']};\n  uwsgi_temp_path {temporary['uwsgi']};\n"
        f"  scgi_temp_path {temporary['scgi']};\n  include {tmp_path / 'registry.conf'};\n}}\n"
    )
    server = subprocess.Popen(
        [str(NGINX), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stderr=subprocess.PIPE,
    )
    address = f"https://127.0.0.1:{port}"
    try:
        _wait_for(address, server)
        yield address
    finally:
        server.terminate()
        server.wait(10)


def _wait_for(address: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(100):
        if server.poll() is not None:
            said = server.stderr.read().decode(errors="replace") if server.stderr else ""
            raise AssertionError(f"nginx stopped: {said}")
        try:
            requests.get(address, timeout=1, verify=False)  # only: does it answer yet?
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("nginx did not answer")


def _auth(login: SecretStr) -> tuple[str, str]:
    user, _, password = login.get_secret_value().partition(":")
    return user, password


def test_only_setup_may_change_the_registry_and_the_services_may_read_it(
    proxy: str, logins: dict[str, SecretStr], tmp_path: Path
) -> None:
    subject = f"it-proxy-{uuid.uuid4().hex[:8]}-value"
    ca = tmp_path / "tls" / CA_FILE
    # Only over TLS, and only to a client that trusts the deployment's authority.
    plain = proxy.replace("https://", "http://")
    assert requests.get(f"{plain}/subjects", timeout=10).status_code == 400
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{proxy}/subjects", timeout=10)
    setup = registry.registry_client(proxy, logins["setup"], ca)
    services = registry.registry_client(proxy, logins["services"], ca)
    try:
        with pytest.raises(registry.RegistryError):
            registry.register_value_schema(services, subject, ANSWER)
        schema_id = registry.register_value_schema(setup, subject, ANSWER)

        # What the services do: look their schema up, fetch writers' schemas by id.
        assert registry.registered_id(services, subject, ANSWER) == schema_id
        fetch = registry.schema_fetcher(proxy, logins["services"], ca)
        assert "FraudConfirmation" in fetch(schema_id)

        quoted = urllib.parse.quote(subject)
        reader = _auth(logins["services"])
        for method, path, body in [
            ("DELETE", f"/subjects/{quoted}", None),
            ("DELETE", f"/subjects/{quoted}?permanent=true", None),
            ("POST", f"/subjects/{quoted}/versions", {"schema": ANSWER}),
            ("PUT", f"/config/{quoted}", {"compatibility": "NONE"}),
            ("PUT", "/config", {"compatibility": "NONE"}),
            ("PUT", "/mode", {"mode": "IMPORT"}),
        ]:
            answer = requests.request(
                method, proxy + path, json=body, auth=reader, timeout=10, verify=str(ca)
            )
            assert answer.status_code == 403, (method, path, answer.status_code)
        assert registry.registered_id(services, subject, ANSWER) == schema_id  # still there

        # Without a login, or with setup's name and another password: nothing at all.
        assert requests.get(f"{proxy}/subjects", timeout=10, verify=str(ca)).status_code == 401
        wrong = ("setup", secrets.token_urlsafe(32))
        for method in ("GET", "DELETE"):
            answer = requests.request(
                method, f"{proxy}/subjects/{quoted}", auth=wrong, timeout=10, verify=str(ca)
            )
            assert answer.status_code == 401, method
    finally:
        for permanent in ("false", "true"):
            requests.delete(
                f"{proxy}/subjects/{urllib.parse.quote(subject)}",
                params={"permanent": permanent},
                auth=_auth(logins["setup"]),
                timeout=10,
                verify=str(ca),
            )


def test_the_password_file_holds_no_password_in_the_clear(
    tmp_path: Path, logins: dict[str, SecretStr]
) -> None:
    given = " ".join(f"'{login.get_secret_value()}'" for login in logins.values())
    written = _kafka_sh(tmp_path, f"registry_passwords {given}")
    lines = dict(line.split(":", 1) for line in written.strip().splitlines())
    assert set(lines) == {"setup", "services"}
    for user, login in logins.items():
        assert lines[user].startswith("$apr1$")
        assert login.get_secret_value().partition(":")[2] not in written
