"""Settings for every fraudstream service, read once from the environment.

Each field is read from the upper-case environment variable of the same name
(``KAFKA_BOOTSTRAP_SERVERS`` for ``kafka_bootstrap_servers``), or from a
``.env`` file in the working directory. ``load_settings`` validates them all
at start-up and turns a bad value into a ``ConfigError`` that names the
variable, so a service never starts half-configured.
"""

from __future__ import annotations

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from fraudstream.errors import PermanentError
from fraudstream.settings.groups import (
    BrandSettings,
    ConfirmationSettings,
    ConsumerSettings,
    KafkaSettings,
    MailSettings,
    ProducerSettings,
    RuntimeSettings,
    StorageSettings,
)
from fraudstream.settings.keys import HOW_TO_MAKE


class ConfigError(PermanentError, ValueError):
    """A setting is missing or invalid; the message names the variable."""


class Settings(
    KafkaSettings,
    StorageSettings,
    MailSettings,
    BrandSettings,
    ProducerSettings,
    ConsumerSettings,
    ConfirmationSettings,
    RuntimeSettings,
):
    """Every knob of the pipeline, with defaults that fit the local stack."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )


def token_key(settings: Settings) -> bytes:
    """The key confirmation links are signed with; ConfigError when it is not set."""
    if settings.confirmation_token_key is None:
        raise ConfigError(f"invalid configuration: CONFIRMATION_TOKEN_KEY: set it to {HOW_TO_MAKE}")
    return settings.confirmation_token_key.get_secret_value().encode()


def note_key(settings: Settings) -> bytes:
    """The key the consumers seal their commit notes with; ConfigError when it is not set."""
    if settings.consumer_note_key is None:
        raise ConfigError(f"invalid configuration: CONSUMER_NOTE_KEY: set it to {HOW_TO_MAKE}")
    return settings.consumer_note_key.get_secret_value().encode()


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings, or raise ``ConfigError`` naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def as_environment(settings: Settings, **overrides: object) -> dict[str, str]:
    """The variables that give exactly ``settings`` (with ``overrides``) to a child process."""
    values = settings.model_dump(exclude_none=True)
    values.update(overrides)
    return {name.upper(): _variable(value) for name, value in values.items()}


def _variable(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        variable = "_".join(str(part) for part in item["loc"]).upper()
        problems.append(f"{variable}: {message}" if variable else message)
    return "invalid configuration: " + "; ".join(problems)
