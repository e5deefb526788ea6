from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.settings.config import ConfigError, load_settings
from fraudstream.wiring.provision import provision, read_principals


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
    monkeypatch.setenv("SMTP_STARTTLS", "true")
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
        ("FRAUD_TOPIC", ".."),
        ("FRAUD_TOPIC", "x" * 250),
        ("MAIL_FROM", "alerts@bank.example\r\nBcc: everyone@bank.example"),
        ("MAIL_FROM", "alerts"),
        ("CUSTOMER_EMAIL_DOMAIN", "bücher.example"),
        ("CUSTOMER_EMAIL_DOMAIN", "example.com\nX-Injected: 1"),
        ("CONFIRMATION_TOKEN_TTL_HOURS", "100000000000"),
        ("EVENT_START_TIME", "9990-01-01T00:00:00Z"),
        ("MAIL_REPLY_TO", "help desk"),
        ("BANK_NAME", "Bank\r\nBcc: everyone@bank.example"),
        ("BANK_NAME", ""),
        ("SUPPORT_CONTACT", "x" * 201),
        ("BANK_LOGO_URL", "http://cdn.bank.example/logo.png"),
        ("BANK_LOGO_URL", 'https://cdn.bank.example/"onerror="x'),
        ("BRAND_COLOUR", "navy"),
        ("BRAND_COLOUR", "#ffcc00"),  # white text on it: 1.6:1
        ("CURRENCY", "DOLLARS"),
        ("CURRENCY_LOCALE", "xx_YY"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_the_brand_is_settings_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAND_COLOUR", "#ffcc00")
    with pytest.raises(ConfigError, match=r"contrast of 1\.\d:1; buttons need 4\.5:1"):
        load_settings()
    monkeypatch.setenv("BRAND_COLOUR", "#5a1e6e")
    monkeypatch.setenv("BANK_LOGO_URL", "")
    monkeypatch.setenv("CURRENCY", "EUR")
    monkeypatch.setenv("CURRENCY_LOCALE", "de-DE")
    brand = load_settings().brand()
    assert brand.logo_url is None and brand.money(1234.5) == "1.234,50\xa0€"


def test_a_password_never_travels_in_the_clear_unless_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    with pytest.raises(ConfigError, match="SMTP_STARTTLS") as refused:
        load_settings()
    assert "hunter2" not in str(refused.value)
    monkeypatch.setenv("SMTP_ALLOW_PLAINTEXT_LOGIN", "true")
    assert load_settings().smtp_allow_plaintext_login


def test_credentials_in_a_url_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "ftp://admin:s3cret@registry.internal/ccompat")
    with pytest.raises(ConfigError, match="SCHEMA_REGISTRY_URL") as refused:
        load_settings()
    assert "s3cret" not in str(refused.value) and "admin" not in str(refused.value)


def test_a_kafka_login_is_sasl_scram_and_needs_both_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_USERNAME", "KAFKA_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings().kafka_connection == {"bootstrap.servers": "127.0.0.1:9092"}
    login = load_settings(kafka_username="producer", kafka_password="s3cret").kafka_connection
    assert login["security.protocol"] == "SASL_PLAINTEXT"
    assert login["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (login["sasl.username"], login["sasl.password"]) == ("producer", "s3cret")
    with pytest.raises(ConfigError, match="KAFKA_USERNAME and KAFKA_PASSWORD together"):
        load_settings(kafka_username="producer")


def test_an_authority_s_certificate_turns_tls_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("KAFKA_USERNAME", "KAFKA_PASSWORD", "TLS_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    ca = tmp_path / "ca.pem"
    ca.write_text("a certificate")
    alone = load_settings(tls_ca_file=ca).kafka_connection
    assert (alone["security.protocol"], alone["ssl.ca.location"]) == ("SSL", str(ca))
    login = load_settings(tls_ca_file=ca, kafka_username="p", kafka_password="s")
    assert login.kafka_connection["security.protocol"] == "SASL_SSL"
    with pytest.raises(ConfigError, match=r"TLS_CA_FILE: .*no such file"):
        load_settings(tls_ca_file=tmp_path / "absent.pem")


def test_the_principals_file_must_name_every_principal_and_no_other(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("KAFKA_PRINCIPALS_FILE", raising=False)
    path = tmp_path / "principals"
    path.write_text("# the services\nproducer=a\n\nstranger=b\n")
    assert read_principals(path) == {"producer": "a", "stranger": "b"}
    settings = load_settings(kafka_principals_file=path)
    missing = "none for cases-consumer, confirmation-service"
    with pytest.raises(ConfigError, match=missing) as refused:
        provision(settings, say=print)
    assert "unknown stranger" in str(refused.value)
    path.write_text("producer\n")
    with pytest.raises(ConfigError, match="every line must be NAME=password"):
        read_principals(path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_principals(tmp_path / "absent")
