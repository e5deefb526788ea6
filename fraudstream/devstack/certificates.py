"""A private certificate authority for a local stack with TLS, and the certificate its
Kafka nodes show: made once per stack, with the cryptography library, as the cloud's
nodes get theirs from the deployment's own authority.

The files, in the stack's folder: ``ca.pem`` (the authority's certificate, which
clients are given as TLS_CA_FILE), ``node.pem`` (a node's private key and its
certificate, for 127.0.0.1 and localhost, readable by this user only) and the
authority's key, which signs nothing else.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fraudstream.devstack.layout import HOST

CA_FILE = "ca.pem"
NODE_FILE = "node.pem"
_AUTHORITY_KEY = "ca-key.pem"
_VALID_DAYS = 365


def ensure_certificates(directory: Path) -> Path:
    """The folder holding the authority and the node's certificate, made if absent."""
    if not (directory / NODE_FILE).is_file():
        directory.mkdir(parents=True, exist_ok=True)
        authority_key, authority = _authority(directory)
        _write_private(directory / NODE_FILE, *_node(authority_key, authority))
    return directory


def _authority(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fraudstream local stack CA")])
    certificate = (
        _valid(x509.CertificateBuilder(), name, key.public_key())
        .issuer_name(name)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signs_certificates=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(directory / _AUTHORITY_KEY, key)
    (directory / CA_FILE).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key, certificate


def _node(
    authority_key: ec.EllipticCurvePrivateKey, authority: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
    certificate = (
        _valid(
            x509.CertificateBuilder(),
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
            key.public_key(),
        )
        .issuer_name(authority.subject)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signs_certificates=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(authority_key, hashes.SHA256())
    )
    return key, certificate


def _valid(
    builder: x509.CertificateBuilder, subject: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        builder.subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
    )


def _usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not signs_certificates,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(
    path: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate | None = None
) -> None:
    """The key, unencrypted PKCS#8 (what Kafka's PEM keystore reads), and the certificate
    after it; readable by this user only."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if certificate is not None:
        pem += certificate.public_bytes(serialization.Encoding.PEM)
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(pem)
