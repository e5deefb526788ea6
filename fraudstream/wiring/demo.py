"""The local demo: provision, produce, run the consumers, then say what happened.

The consumers run as processes of their own, as in a deployment; their logs go
to files under ``build/demo/logs/`` so that what the demo prints at the end,
a short summary, is not buried under one line per batch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fraudstream.devstack.layout import METRICS_PORTS
from fraudstream.paysim.generator import write_csv
from fraudstream.producer.checkpoint import Checkpoint, load_checkpoint
from fraudstream.settings.config import Settings
from fraudstream.storage import lake
from fraudstream.topology import LakeFolder, topology
from fraudstream.wiring.live_view import records_taken

Say = Callable[[str], None]
DEMO_DIR = Path("build/demo")


@dataclass(frozen=True)
class ConsumerRun:
    kind: str
    exit_code: int
    summary: str  # the consumer's own last line, or why there is none
    log: Path


def upload_dataset(settings: Settings, csv_path: Path, say: Say) -> str:
    """Put a PaySim CSV into the dataset bucket, where the producer reads it from."""
    bucket = lake.lake_bucket(settings.gcp_project, settings.dataset_bucket)
    address = lake.upload_file(bucket, csv_path, f"paysim/{csv_path.name}")
    say(f"uploaded {csv_path} ({csv_path.stat().st_size:,} bytes) to {address}")
    return address


def generated_csv(rows: int, say: Say, directory: Path = DEMO_DIR, seed: int = 1) -> Path:
    """A PaySim-like CSV of ``rows`` rows drawn with ``seed``, generated once, then reused."""
    path = directory / generated_csv_name(rows, seed)
    if not path.is_file():
        write_csv(path, rows=rows, seed=seed)
        say(f"generated {rows:,} PaySim-like rows into {path}")
    return path


def fresh_generated_csv(
    settings: Settings, rows: int, say: Say, directory: Path = DEMO_DIR
) -> Path:
    """Generated rows that no earlier demo sent in full: seed 1's, or once those have
    gone, the next seed's. So each demo sends new payments (new transaction ids), and
    the lake and the emails show each payment once."""
    seed = 1
    while sent_in_full(settings, generated_csv_name(rows, seed)):
        seed += 1
    if seed > 1:
        say(f"the earlier demos sent every row they generated; drawing {rows:,} new ones")
    return generated_csv(rows, say, directory, seed)


def generated_csv_name(rows: int, seed: int) -> str:
    return f"paysim-generated-{rows}{'' if seed == 1 else f'-seed{seed}'}.csv"


def sent_in_full(settings: Settings, name: str) -> bool:
    """Whether the producer's checkpoint says every row of the uploaded file ``name`` went."""
    saved = sent_before(settings, name)
    return saved is not None and saved.complete


def sent_before(settings: Settings, name: str) -> Checkpoint | None:
    """How far an earlier demo got with the uploaded file ``name``, if one sent any of it."""
    uri = f"gs://{settings.dataset_bucket}/paysim/{name}"
    return load_checkpoint(settings.kafka_connection, settings.checkpoint_topic, uri)


# Above this many emails a run takes minutes: the demo says how many first.
LONG_RUN_EMAILS = 200_000
EMAILS_A_SECOND = 1_000  # what the email consumers send here (BENCHMARKS.md)


def warn_if_long(csv_path: Path, limit: int | None, say: Say) -> None:
    """Before a run of more than LONG_RUN_EMAILS emails: how many, how long, how to send fewer."""
    with csv_path.open("rb") as stream:
        rows = sum(block.count(b"\n") for block in iter(lambda: stream.read(1 << 20), b"")) - 1
    emails = rows if limit is None else min(rows, limit)
    if emails > LONG_RUN_EMAILS:
        minutes = emails / EMAILS_A_SECOND / 60
        say(
            f"this run emails {emails:,} customers: about {minutes:.0f} minutes at "
            f"{EMAILS_A_SECOND:,} emails a second here; --limit N sends the first N rows"
        )


Started = dict[str, tuple[subprocess.Popen[str], Path]]


def run_consumers(idle_exit: float, say: Say, logs: Path = DEMO_DIR / "logs") -> list[ConsumerRun]:
    """The three consumers (emails and lake, and the case table), each a process of its
    own, until their topics have been quiet for ``idle_exit`` seconds. Each one's log goes
    to a file, its summary line comes back."""
    return wait_for_consumers(start_consumers(idle_exit, say, logs))


def start_consumers(idle_exit: float | None, say: Say, logs: Path = DEMO_DIR / "logs") -> Started:
    """The three consumers started, each logging to a file of its own; with ``idle_exit``,
    each stops once nothing has come for that long, otherwise when it is told to."""
    logs.mkdir(parents=True, exist_ok=True)
    started = {}
    for kind in ("non-fraud", "fraud", "cases"):
        log = logs / f"{kind}-consumer.log"
        command = [sys.executable, "-m", "fraudstream", "consume", kind]
        command += [] if idle_exit is None else ["--idle-exit", str(idle_exit)]
        environment = {**os.environ, "LOG_FORMAT": "json", "METRICS_PORT": str(METRICS_PORTS[kind])}
        with log.open("wb") as log_file:
            started[kind] = (
                subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=log_file, env=environment, text=True
                ),
                log,
            )
    until = (
        "the payments are out and they caught up"
        if idle_exit is None
        else f"{idle_exit:g} s of quiet"
    )
    say(f"consumers running ({', '.join(started)}); they stop after {until}; logs in {logs}/")
    return started


def wait_until_serving(started: Started, timeout: float = 60, poll: float = 0.25) -> None:
    """Until each consumer's metrics endpoint answers (it has started; the live payments
    do not then share the cores with three processes starting), or it has exited."""
    deadline = time.monotonic() + timeout
    waiting = set(started)
    while waiting and time.monotonic() < deadline:
        for kind in list(waiting):
            exited = started[kind][0].poll() is not None
            if exited or records_taken(_metrics_url(kind)) is not None:
                waiting.discard(kind)
        time.sleep(poll)


def stop_when_quiet(started: Started, quiet: float, poll: float = 0.5) -> None:
    """Once the payments are all out: SIGTERM each consumer once the records it has taken
    (its metrics say) have not grown for ``quiet`` seconds. It finishes what it holds first.

    A live consumer cannot stop on its own idle timer: the fraud topic can be quiet for
    longer than that while payments still go out."""
    last_change = {kind: (records_taken(_metrics_url(kind)), time.monotonic()) for kind in started}
    while last_change:
        time.sleep(poll)
        for kind, (seen, since) in list(last_change.items()):
            process, taken = started[kind][0], records_taken(_metrics_url(kind))
            if process.poll() is not None:
                del last_change[kind]
            elif taken != seen:
                last_change[kind] = (taken, time.monotonic())
            elif time.monotonic() - since >= quiet:
                process.terminate()
                del last_change[kind]


def stop_consumers(started: Started) -> None:
    """SIGTERM every consumer still running; each finishes what it holds first."""
    for process, _log in started.values():
        if process.poll() is None:
            process.terminate()


def _metrics_url(kind: str) -> str:
    return f"http://127.0.0.1:{METRICS_PORTS[kind]}/metrics"


def wait_for_consumers(started: Started) -> list[ConsumerRun]:
    """Each consumer's exit code and summary line, once it has stopped."""
    runs = []
    for kind, (process, log) in started.items():
        output, _ = process.communicate()
        lines = output.strip().splitlines()
        failed = f"{kind} consumer: failed (exit code {process.returncode}); see {log}"
        summary = lines[-1] if lines else failed
        runs.append(ConsumerRun(kind, process.returncode, summary, log))
    return runs


def metrics_urls() -> list[str]:
    return [_metrics_url(part) for part in METRICS_PORTS]


def metrics_addresses() -> str:
    """Each part's metrics endpoint, for a person."""
    return ", ".join(
        f"{part} http://127.0.0.1:{port}/metrics" for part, port in METRICS_PORTS.items()
    )


def report(
    settings: Settings, consumers: list[ConsumerRun], case_lines: list[str], say: Say
) -> None:
    """What each consumer did, what the lake and the case table hold, where to look next."""
    for run in consumers:
        say(run.summary)
    bucket = lake.lake_bucket(settings.gcp_project, topology(settings).lake_bucket)
    for folder in LakeFolder:
        count, size = lake.folder_size(bucket, f"{folder}/")
        say(f"lake   gs://{bucket.name}/{folder}/: {count} objects, {size:,} bytes")
    for line in case_lines:
        say(line)
    if mail_ui := os.environ.get("MAIL_API_URL"):
        say(f"emails: open {mail_ui} to read what the customers received")
    if dashboard := os.environ.get("DASHBOARD_URL"):
        say(f"dashboard: open {dashboard} for the rates, the lag and each sink's latency")
    say(
        "inside: `fraudstream topics` shows each topic and each group's lag, "
        f"`fraudstream tail {topology(settings).fraud.name}` its last records, decoded"
    )
    say(
        f"answers: run `make confirmation-service` (it also records answers in the case "
        f"table), click a link in a fraud email (served at {settings.confirmation_base_url}), "
        f"then `make cases` shows the answer"
    )
