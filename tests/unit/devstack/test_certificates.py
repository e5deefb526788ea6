"""The local stack's authority and its nodes' certificate, as a TLS client checks them."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fraudstream.devstack.certificates import CA_FILE, NODE_FILE, ensure_certificates


def test_the_node_s_certificate_is_the_authority_s_for_the_loopback_address(tmp_path: Path) -> None:
    folder = ensure_certificates(tmp_path / "tls")
    authority = x509.load_pem_x509_certificate((folder / CA_FILE).read_bytes())
    node_pem = (folder / NODE_FILE).read_bytes()
    node = x509.load_pem_x509_certificate(node_pem)
    node.verify_directly_issued_by(authority)
    names = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert not node.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = serialization.load_pem_private_key(node_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == node.public_key()
    assert stat.S_IMODE((folder / NODE_FILE).stat().st_mode) == 0o600
    # Made once: a second call keeps them (a restarted node shows the same certificate).
    assert ensure_certificates(folder) == folder
    assert (folder / NODE_FILE).read_bytes() == node_pem
