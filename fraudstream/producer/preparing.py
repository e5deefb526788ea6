"""A part of a block made ready to send (``pacing`` cuts the parts): its records assessed
by the detector and encoded as Avro with their topic and key, its rejected rows as
quarantine messages."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from fraudstream.detection.detectors import Assessment, Detector
from fraudstream.kafka import registry
from fraudstream.paysim.avro_codec import RecordEncoder, wire_header
from fraudstream.paysim.format import Rejected
from fraudstream.paysim.records import EmailDirectory, to_records, with_detection
from fraudstream.producer.checkpoint import Counts
from fraudstream.producer.pacing import Part
from fraudstream.settings.config import Settings
from fraudstream.topology import topology


@dataclass(frozen=True)
class Prepared:
    """A part made ready to send: its counts, its records' (topics, keys, values), and its
    rejects' quarantine messages."""

    part: Part
    counts: Counts
    records: tuple[list[str], list[bytes], list[bytes]]
    rejects: list[bytes]


class Preparer:
    """Makes parts ready to send with one detector, one encoder and the schema ids the
    registry gave the two transaction topics."""

    def __init__(self, settings: Settings, detector: Detector) -> None:
        self.settings = settings
        self.detector = detector
        self.emails = EmailDirectory.load(
            settings.customer_email_domain, settings.customer_emails_file
        )
        schema_text = registry.load_schema("transaction")
        self.encoder = RecordEncoder(schema_text)
        self.headers = self._wire_headers(schema_text)

    def prepare(self, part: Part, source: str, released_ms: int | None = None) -> Prepared:
        """A part's records assessed and encoded, and its rejects as quarantine messages;
        with ``released_ms``, each record's ``event_time`` is that moment."""
        block = part.block
        records = to_records(block, self.settings.event_start_time, self.emails, released_ms)
        assessment = self.detector.assess(records)
        fraud = int(assessment.flagged.sum())
        counts = Counts(block.num_rows, fraud, block.num_rows - fraud, len(block.rejected))
        rejects = [rejected_body(source, r) for r in block.rejected]
        return Prepared(part, counts, self.encode(records, assessment), rejects)

    def encode(
        self, records: pa.Table, assessment: Assessment
    ) -> tuple[list[str], list[bytes], list[bytes]]:
        """Topic, key (nameOrig) and Confluent-framed Avro value of each record, the
        detector's name and score written into it."""
        routes = assessment.flagged.astype(np.int8)  # 1: fraud, 0: not
        assessed = with_detection(records, self.detector.name, assessment.scores)
        values = self.encoder.encode(assessed, self.headers.take(pa.array(routes))).to_pylist()
        keys = records["nameOrig"].cast(pa.binary()).to_pylist()
        names = np.array([self.settings.non_fraud_topic, self.settings.fraud_topic], dtype=object)
        topics = names[routes].tolist()
        return topics, keys, values

    def _wire_headers(self, schema_text: str) -> pa.Array:
        """The Confluent header of each topic's records: index 1 for fraud, 0 for the others."""
        topics = topology(self.settings)
        client = registry.registry_client(
            self.settings.schema_registry_url,
            self.settings.schema_registry_login,
            self.settings.tls_ca_file,
        )
        ids = [
            registry.registered_id(client, topic.subject, schema_text)
            for topic in (topics.non_fraud, topics.fraud)
        ]
        return pa.array([wire_header(schema_id) for schema_id in ids], pa.binary())


def rejected_body(source: str, rejected: Rejected) -> bytes:
    """The quarantined row as JSON; ``truncated`` says its text was cut (``length`` is whole)."""
    return json.dumps(
        {"source": source, **asdict(rejected), "truncated": rejected.truncated}
    ).encode()
