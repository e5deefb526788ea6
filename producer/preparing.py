"""A block made ready to send: cut into parts (one a PaySim step when pacing, each
released at its step's time), each part's records assessed by the detector and encoded
as Avro with their topic and key, its rejected rows as quarantine messages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from fraudstream import registry
from fraudstream.avro_codec import RecordEncoder, wire_header
from fraudstream.config import Settings
from fraudstream.detection.detectors import Assessment, Detector
from fraudstream.payments import Block
from fraudstream.paysim import Rejected
from fraudstream.producer.checkpoint import Counts
from fraudstream.records import EmailDirectory, to_records, with_detection
from fraudstream.topology import topology


@dataclass(frozen=True)
class Prepared:
    """A part made ready to send: its counts, its records' (topics, keys, values), and its
    rejects' quarantine messages."""

    part: Part
    counts: Counts
    records: tuple[list[str], list[bytes], list[bytes]]
    rejects: list[bytes]


@dataclass(frozen=True)
class Part:
    """Rows of a block sent in one transaction, covering the lines before ``end_line``."""

    block: Block
    end_line: int
    step: int | None


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

    def prepare(self, part: Part, source: str) -> Prepared:
        """A part's records assessed and encoded, and its rejects as quarantine messages."""
        block = part.block
        records = to_records(block, self.settings.event_start_time, self.emails)
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
            self.settings.schema_registry_url, self.settings.schema_registry_login
        )
        ids = [
            registry.registered_id(client, topic.subject, schema_text)
            for topic in (topics.non_fraud, topics.fraud)
        ]
        return pa.array([wire_header(schema_id) for schema_id in ids], pa.binary())


class Pacer:
    """Releases each PaySim step ``1/speed`` seconds after the one before it."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self._origin: tuple[float, int] | None = None

    @property
    def enabled(self) -> bool:
        return self.speed is not None

    def wait_for(self, part: Part) -> None:
        if self.speed is None or part.step is None:
            return
        if self._origin is None:
            self._origin = (time.monotonic(), part.step)
        started, first_step = self._origin
        delay = started + (part.step - first_step) / self.speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def parts(block: Block, end_line: int, by_step: bool) -> Iterator[Part]:
    """The whole block, or (when pacing) one part for each run of rows of the same step."""
    if not by_step or block.num_rows == 0:
        yield Part(block, end_line, None)
        return
    steps = block.rows["step"].to_numpy()
    starts = np.flatnonzero(np.diff(steps, prepend=steps[0] - 1))
    for index, start in enumerate(starts):
        last = index + 1 == len(starts)
        part_end = end_line if last else int(block.lines[starts[index + 1]])
        first_line = 0 if index == 0 else int(block.lines[start])
        yield Part(block.between(first_line, part_end), part_end, int(steps[start]))


def rejected_body(source: str, rejected: Rejected) -> bytes:
    """The quarantined row as JSON; ``truncated`` says its text was cut (``length`` is whole)."""
    return json.dumps(
        {"source": source, **asdict(rejected), "truncated": rejected.truncated}
    ).encode()
