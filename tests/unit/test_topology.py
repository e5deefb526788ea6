from __future__ import annotations

from fraudstream.principals import SERVICE_PRINCIPALS
from fraudstream.settings.config import load_settings
from fraudstream.topology import kafka_principals


def test_every_declared_principal_has_its_grants_and_no_other_has_any() -> None:
    settings = load_settings()
    assert tuple(kafka_principals(settings)) == SERVICE_PRINCIPALS
