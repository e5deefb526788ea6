"""The local stack's secrets: the confirmation links' key, Kafka's super user and the
services' passwords on a SASL stack. Each is made when first asked for, lives in the
stack's run folder (readable by its owner only), and goes with the stack."""

from __future__ import annotations

import secrets

from fraudstream.devstack.certificates import CA_FILE
from fraudstream.devstack.layout import Topology, run_dir, tls_dir
from fraudstream.devstack.security import KAFKA_ADMIN
from fraudstream.principals import SERVICE_PRINCIPALS


def token_key() -> str:
    """This stack's key for signing confirmation links, made when first asked for.

    It lives in the stack's run folder, readable by its owner only, and goes
    with the stack: a fresh stack has a fresh key (and a fresh, empty lake).
    """
    return stack_secret("confirmation-token-key")


def stack_secret(name: str) -> str:
    path = run_dir() / name
    if not path.is_file():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text()


def kafka_admin_login() -> dict[str, str]:
    """The SASL client settings of the stack's Kafka super user (a SASL stack only)."""
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": KAFKA_ADMIN,
        "sasl.password": stack_secret("kafka-admin-password"),
    }


def kafka_environment(topology: Topology) -> dict[str, str]:
    """What points fraudstream at a SASL stack: the super user's login, and the file
    of the services' passwords that `fraudstream setup` makes their principals from."""
    if not topology.sasl:
        return {}
    principals = run_dir() / "kafka-principals"
    if not principals.is_file():
        principals.touch(mode=0o600)
        principals.write_text(
            "".join(f"{name}={secrets.token_urlsafe(24)}\n" for name in SERVICE_PRINCIPALS)
        )
    login = kafka_admin_login()
    return {
        "KAFKA_USERNAME": login["sasl.username"],
        "KAFKA_PASSWORD": login["sasl.password"],
        "KAFKA_PRINCIPALS_FILE": str(principals),
    }


def admin_login(topology: Topology) -> dict[str, str] | None:
    """The SASL and TLS settings a client of this stack's Kafka needs, if any."""
    login = kafka_admin_login() if topology.sasl else {}
    if topology.tls:
        login |= {"ssl.ca.location": str(tls_dir() / CA_FILE)}
    return {**login, "security.protocol": topology.kafka_protocol} if login else None
