"""The producer's wiring: its detector and topics checked, the run, the report to a person.

Apart from the rest of ``wiring`` so that ``fraudstream produce`` loads the
producer alone: not the web, database and mail libraries the consumers and
the confirmation service need, which would add 50 MB to its memory.
"""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path

import pyarrow as pa

from fraudstream import kafka
from fraudstream.detection.detectors import Detector, load_detector
from fraudstream.paysim.source import require_local_file
from fraudstream.producer.checkpoint import Counts
from fraudstream.producer.progress import progress_for_stderr
from fraudstream.producer.runs import RunOptions, Summary
from fraudstream.producer.service import ProducerRun
from fraudstream.runtime import metrics
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import ConfigError, Settings
from fraudstream.storage import lake
from fraudstream.topology import topology

log = logging.getLogger("fraudstream")


def produce(settings: Settings, options: RunOptions) -> Summary:
    """Stream one source into Kafka until it is done or a signal stops it."""
    stop = StopFlag()
    release_arrow_memory_promptly()
    run = producer_run(settings, options, stop)
    metrics.serve(settings.metrics_port, settings.metrics_host)
    stop.install()
    summary = run.run(progress_for_stderr())
    _report(summary)
    return summary


def release_arrow_memory_promptly() -> None:
    """Arrow's buffers from the C library's allocator, which hands freed memory back
    sooner: with pyarrow's default (mimalloc) the producer peaks about 25 MB higher, for
    no speed."""
    pa.set_memory_pool(pa.system_memory_pool())


def producer_run(settings: Settings, options: RunOptions, stop: StopFlag) -> ProducerRun:
    """A producer run, its source file, detector and topics checked, in that order: what
    is cheap to check first (it checks its schemas)."""
    require_local_file(options.source)
    detector = settings_detector(settings)
    declared = topology(settings)
    needed = (declared.fraud, declared.non_fraud, declared.rejected, declared.checkpoints)
    kafka.require_topics(settings.kafka_connection, [topic.name for topic in needed])
    return ProducerRun(settings, detector, options, stop)


def settings_detector(settings: Settings) -> Detector:
    """The detector ``DETECTOR`` names, its model read from ``DETECTOR_MODEL``."""
    return load_detector(
        settings.detector, settings.detector_amount_threshold, partial(read_model, settings)
    )


def model_location(settings: Settings) -> str:
    return settings.detector_model or f"models/{settings.detector}.onnx"


def read_model(settings: Settings) -> bytes:
    """The model file's bytes, from a path or a ``gs://`` address."""
    location = model_location(settings)
    if location.startswith("gs://"):
        with lake.open_object(settings.gcp_project, location, chunk_size=1 << 20) as (_, stream):
            return stream.read()
    path = Path(location)
    if not path.is_file():
        raise ConfigError(
            f"invalid configuration: DETECTOR_MODEL: no model at {location}: train one with "
            f"`fraudstream train --detector {settings.detector} -o {location}`"
        )
    return path.read_bytes()


def _report(summary: Summary) -> None:
    run, total = summary.this_run, summary.total
    state = "complete" if summary.complete else f"stopped before line {summary.next_line:,}"
    log.debug("summary", extra={"source": summary.source, "state": state, **vars(total)})
    speed = f"{summary.seconds:.1f} s, {summary.rows_per_second:,.0f} rows/s"
    print(f"{summary.source}: {state}", file=sys.stderr)
    print(f"  this run  {_counts(run)}, {speed}", file=sys.stderr)
    print(f"  in total  {_counts(total)}", file=sys.stderr)


def _counts(counts: Counts) -> str:
    return (
        f"{counts.good:>10,} good ({counts.fraud:,} fraud, {counts.non_fraud:,} non-fraud), "
        f"{counts.rejected:,} rejected"
    )
