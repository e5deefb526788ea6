"""The Kafka VM's startup script, executed under strace: no secret it reads from Secret
Manager is ever on a command line, where any user of the VM could read it (ps,
/proc/PID/cmdline); the VM's TLS certificate is its own key's, for its name, from the
deployment's authority (the `gcloud privateca` shim signs with one made here), and is
asked for once. Docker, nginx and the data disk are answered by the recorder
(vm_rehearsal); what the script hands them is checked from their calls."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fraudstream.devstack.certificates import CA_FILE, ensure_certificates
from tests.integration.conftest import Stack
from tests.integration.vm_rehearsal import MetadataServer, RehearsedVM

pytestmark = pytest.mark.cloud

SECRETS = {
    "kafka-admin": secrets.token_urlsafe(32),
    "kafka-schema-registry": secrets.token_urlsafe(32),
    "kafka-kafka-ui": secrets.token_urlsafe(32),
    "kafka-ui-login": secrets.token_urlsafe(32),
    "registry-setup-login": f"setup:{secrets.token_urlsafe(32)}",
    "registry-services-login": f"services:{secrets.token_urlsafe(32)}",
}
METADATA = {
    "ops-agent": "false",
    "kafka-cluster-id": "MkU3OEVBNTcwNTJENDM2Qg",
    "kafka-voters": "1@10.0.0.2:9093,2@10.0.0.3:9093,3@10.0.0.4:9093",
    "kafka-nodes": "1:9092:9093",
    "kafka-bootstrap": "10.0.0.2:9092,10.0.0.3:9092,10.0.0.4:9092",
    "kafka-extras": "true",
    "kafka-admin-secret": "kafka-admin",
    "kafka-registry-secret": "kafka-schema-registry",
    "kafka-ui-secret": "kafka-kafka-ui",
    "kafka-ui-login-secret": "kafka-ui-login",
    "registry-logins": "registry-setup-login registry-services-login",
    "kafka-host": "fraudstream-kafka-1.europe-west1-b.c.project.internal",
    "tls-pool": "fraudstream-internal",
    "tls-pool-location": "europe-west1",
}
# What a Kafka VM's boot hands to programs that change the machine.
RECORDED = ("docker", "nginx", "blkid", "mkfs.ext4", "mount", "mountpoint", "chown", "chgrp")


def test_a_kafka_vm_boots_with_its_certificate_and_no_secret_on_any_command_line(
    stack: Stack, tmp_path: Path
) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed: `make nginx` installs it with nginx")
    authority = ensure_certificates(tmp_path / "authority")
    vm = RehearsedVM(tmp_path / "vm", SECRETS, recorded=RECORDED)
    (vm.root / "etc/nginx/conf.d").mkdir(parents=True)
    traced = tmp_path / "boot.strace"
    with MetadataServer(METADATA) as server:
        booted = vm.boot(
            "kafka",
            server.url,
            stack.storage_emulator_host,
            traced=traced,
            REHEARSAL_AUTHORITY=str(authority),
        )
        assert booted.returncode == 0, booted.stderr
        rebooted = vm.boot("kafka", server.url, stack.storage_emulator_host)
        assert rebooted.returncode == 0, rebooted.stderr

    command_lines = vm.command_lines(traced)
    assert any("docker" in line for line in command_lines), "the trace missed the boot"
    for name, value in SECRETS.items():
        password = value.rpartition(":")[2]
        shown = [line for line in command_lines if password in line]
        assert not shown, f"secret {name} on a command line: {shown[0][:300]}"
    # The storage was formatted from the file of arguments, which is gone after.
    formatted = [call for call in vm.calls if "@/etc/kafka/format.args" in call]
    assert len(formatted) == 2 and formatted[0].startswith("docker run --rm")
    assert not list((vm.root / "var/lib/kafka").rglob("format.args"))
    # The secrets went to root-only files instead.
    settings = vm.root / "var/lib/kafka/node-1/server.properties"
    assert SECRETS["kafka-admin"] in settings.read_text()
    assert settings.stat().st_mode & 0o077 == 0
    # The registry logs in as its own principal, not as the administrator.
    registry = (vm.root / "etc/fraudstream-kafka/registry.env").read_text()
    assert 'username="schema-registry"' in registry and SECRETS["kafka-admin"] not in registry
    _assert_the_certificate_is_the_vm_s(vm, authority)


def _assert_the_certificate_is_the_vm_s(vm: RehearsedVM, authority: Path) -> None:
    """Its own key's, for its name, from the authority; asked for once in two boots;
    the listeners and the registry's front door on TLS."""
    tls = vm.root / "var/lib/kafka/tls"
    issued = x509.load_pem_x509_certificate((tls / "node.crt").read_bytes())
    issued.verify_directly_issued_by(
        x509.load_pem_x509_certificate((authority / CA_FILE).read_bytes())
    )
    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [METADATA["kafka-host"]]
    key = serialization.load_pem_private_key((tls / "key.pem").read_bytes(), None)
    assert key.public_key() == issued.public_key()
    assert (tls / "key.pem").stat().st_mode & 0o077 == 0
    assert (tls / "node.pem").read_bytes().startswith((tls / "key.pem").read_bytes())
    assert (tls / "ca.pem").read_bytes() == (authority / CA_FILE).read_bytes()
    asked = [call for call in vm.calls if call.startswith("gcloud privateca")]
    assert len(asked) == 1, "the certificate was asked for again while still good"
    node = (vm.root / "var/lib/kafka/node-1/server.properties").read_text()
    assert "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL" in node
    proxy = (vm.root / "etc/nginx/conf.d/fraudstream-registry.conf").read_text()
    assert "listen 8081 ssl;" in proxy and f"ssl_certificate {tls / 'node.crt'};" in proxy
