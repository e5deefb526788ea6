from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.config import ConfigError, load_settings


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.fraud_topic == "fraud_transaction"
    assert settings.non_fraud_topic == "non_fraud_transaction"


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.2:9092,10.0.0.3:9092")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "10.0.0.2:9092,10.0.0.3:9092"
    assert settings.smtp_port == 2525
    assert settings.smtp_password is not None
    assert "hunter2" not in repr(settings)


def test_values_come_from_a_dotenv_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAKE_BUCKET", raising=False)
    (tmp_path / ".env").write_text("LAKE_BUCKET=acme-lake\n")
    assert load_settings().lake_bucket == "acme-lake"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMTP_PORT", "not-a-port"),
        ("SMTP_PORT", "70000"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost"),
        ("SCHEMA_REGISTRY_URL", "registry:8081"),
        ("LAKE_BUCKET", "Upper_Case"),
        ("FRAUD_TOPIC", "has space"),
        ("TOPIC_PARTITIONS", "0"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()
