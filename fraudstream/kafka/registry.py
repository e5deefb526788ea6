"""The schema registry, spoken to through Confluent's REST API.

Provisioning registers the schemas (``register_value_schema``); services only
look up the ids of schemas already registered (``registered_id``), fetch
writers' schemas by id (``schema_fetcher``) and serialize (``value_serializer``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import SecretStr

from fraudstream.errors import MissingResourceError, PermanentError, TransientError
from fraudstream.paysim.avro_codec import NotAvroSchemaError
from fraudstream.resources import data_folder

# The Avro contracts, schemas/ (fraudstream.resources); FRAUDSTREAM_SCHEMA_DIR points elsewhere.
SCHEMA_DIR = Path(os.environ.get("FRAUDSTREAM_SCHEMA_DIR", data_folder("schemas")))

# Schemas are registered once, by provisioning, never by a serializer in passing.
# The serializer looks its schema up in normalised form: Apicurio compares
# schema text literally unless asked to normalise, and the serializer sends a
# re-printed copy of the text it was given.
SERIALIZER_CONFIG = {"auto.register.schemas": False, "normalize.schemas": True}
_NOT_FOUND = 404


class RegistryError(PermanentError):
    """The registry refused a schema."""


class RegistryUnavailableError(TransientError):
    """The schema registry did not answer; not the message's fault."""


def load_schema(name: str) -> str:
    """The text of ``schemas/<name>.avsc``, the one source of truth for a record."""
    return (SCHEMA_DIR / f"{name}.avsc").read_text()


def registry_client(
    url: str, login: SecretStr | None = None, ca_file: Path | None = None
) -> SchemaRegistryClient:
    """A client of the registry at ``url``, logging in with ``login`` ("user:password",
    HTTP basic authentication) when given; over https, the registry's certificate is
    checked against ``ca_file`` when given (the deployment's own authority)."""
    config = {"url": url}
    if login is not None:
        config["basic.auth.user.info"] = login.get_secret_value()
    if ca_file is not None:
        config["ssl.ca.location"] = str(ca_file)
    return SchemaRegistryClient(config)


def register_value_schema(
    client: SchemaRegistryClient, subject: str, schema_text: str, compatibility: str = "BACKWARD"
) -> int:
    """Register ``schema_text`` under ``subject``; return its id."""
    try:
        schema = Schema(schema_text, "AVRO")
        schema_id = int(client.register_schema(subject, schema, normalize_schemas=True))
        client.set_compatibility(subject, compatibility)
    except SchemaRegistryError as error:
        raise RegistryError(f"cannot register {subject}: {error}") from error
    except Exception as error:  # the HTTP client's connection errors
        raise RegistryUnavailableError(f"cannot reach the registry: {error}") from error
    return schema_id


def registered_id(client: SchemaRegistryClient, subject: str, schema_text: str) -> int:
    """The id under which ``schema_text`` is registered in ``subject``;
    ``MissingResourceError`` when it is not."""
    try:
        found = client.lookup_schema(subject, Schema(schema_text, "AVRO"), normalize_schemas=True)
    except SchemaRegistryError as error:
        if error.http_status_code == _NOT_FOUND:
            raise MissingResourceError(f"the schema of {subject} in the registry") from error
        raise RegistryError(f"the registry refused a lookup of {subject}: {error}") from error
    except Exception as error:  # the HTTP client's connection errors
        raise RegistryUnavailableError(f"cannot reach the registry: {error}") from error
    return int(found.schema_id or 0)


def schema_fetcher(
    url: str, login: SecretStr | None = None, ca_file: Path | None = None
) -> Callable[[int], str]:
    """A schema fetcher for ``RecordDecoder``: LookupError for an unknown id,
    NotAvroSchemaError for a JSON Schema or Protobuf one, ``RegistryUnavailableError``
    when the registry cannot be asked."""
    client = registry_client(url, login, ca_file)

    def fetch(schema_id: int) -> str:
        try:
            found = client.get_schema(schema_id)
        except SchemaRegistryError as error:
            if error.http_status_code == _NOT_FOUND:
                raise LookupError(schema_id) from error
            raise RegistryUnavailableError(str(error)) from error
        except Exception as error:  # the HTTP client's connection errors
            raise RegistryUnavailableError(str(error)) from error
        if (found.schema_type or "AVRO") != "AVRO":
            raise NotAvroSchemaError(f"a {found.schema_type} schema, not Avro")
        return str(found.schema_str)

    return fetch


def value_serializer(
    client: SchemaRegistryClient, topic: str, schema_text: str
) -> Callable[[dict[str, Any]], bytes]:
    """Confluent-framed Avro for values of ``topic``, under the schema provisioning registered."""
    serializer = AvroSerializer(client, schema_text, conf=SERIALIZER_CONFIG)
    context = SerializationContext(topic, MessageField.VALUE)

    def serialize(record: dict[str, Any]) -> bytes:
        try:
            return bytes(serializer(record, context) or b"")
        except SchemaRegistryError as error:
            raise RegistryError(f"cannot serialize for {topic}: {error}") from error
        except (ValueError, TypeError) as error:
            raise RegistryError(f"not a {topic} record: {error}") from error
        except Exception as error:  # the HTTP client's connection errors
            raise RegistryUnavailableError(f"cannot reach the registry: {error}") from error

    return serialize
