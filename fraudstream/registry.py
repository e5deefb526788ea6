"""The schema registry, spoken to through Confluent's REST API."""

from __future__ import annotations

import os
from pathlib import Path

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError

# The Avro contracts live in the repository's schemas/ folder; an installed
# copy (the Docker image) says where they are with FRAUDSTREAM_SCHEMA_DIR.
SCHEMA_DIR = Path(
    os.environ.get("FRAUDSTREAM_SCHEMA_DIR", Path(__file__).resolve().parent.parent / "schemas")
)


# Schemas are registered once at start-up, never by a serializer in passing.
# The serializer looks its schema up in normalised form: Apicurio compares
# schema text literally unless asked to normalise, and the serializer sends a
# re-printed copy of the text it was given.
SERIALIZER_CONFIG = {"auto.register.schemas": False, "normalize.schemas": True}


class RegistryError(RuntimeError):
    """The registry refused a schema or could not be reached."""


def load_schema(name: str) -> str:
    """The text of ``schemas/<name>.avsc``, the one source of truth for a record."""
    return (SCHEMA_DIR / f"{name}.avsc").read_text()


def registry_client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url})


def register_value_schema(
    client: SchemaRegistryClient, topic: str, schema_text: str, compatibility: str = "BACKWARD"
) -> int:
    """Register the value schema of ``topic`` under ``<topic>-value``; return its id."""
    subject = f"{topic}-value"
    try:
        schema = Schema(schema_text, "AVRO")
        schema_id = int(client.register_schema(subject, schema, normalize_schemas=True))
        client.set_compatibility(subject, compatibility)
    except SchemaRegistryError as error:
        raise RegistryError(f"cannot register {subject}: {error}") from error
    return schema_id


def avro_serializer(client: SchemaRegistryClient, schema_text: str) -> AvroSerializer:
    """A serializer for a schema that ``register_value_schema`` has already registered."""
    serializer: AvroSerializer = AvroSerializer(client, schema_text, conf=SERIALIZER_CONFIG)
    return serializer
