"""The demo against the real stack: an idempotent set-up, then the whole pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from confluent_kafka.admin import AdminClient

from fraudstream.kafka import registry
from fraudstream.settings.config import Settings
from fraudstream.storage import lake
from fraudstream.topology import topology
from fraudstream.wiring import demo
from fraudstream.wiring.provision import provision
from tests.integration.conftest import Stack
from tests.integration.pipeline import REPO_ROOT, case_rows, environment, lake_records, mails_to


def test_provision_twice_then_upload(
    bare_settings: Settings, stack: Stack, paysim_sample: Path
) -> None:
    settings = bare_settings
    declared = topology(settings)
    said: list[str] = []
    provision(settings, say=said.append)
    provision(settings, say=said.append)
    assert sum("created" in line for line in said) == len(declared.topics)
    assert sum("exists" in line for line in said) == len(declared.topics)

    topics = AdminClient({"bootstrap.servers": stack.bootstrap_servers}).list_topics(timeout=10)
    assert len(topics.topics[settings.fraud_topic].partitions) == 3
    # Each subject asked for by name: the registry lists at most 1,000 subjects, and a
    # stack that has run the suite a few times holds more.
    client = registry.registry_client(settings.schema_registry_url)
    with_schema = [t.subject for t in declared.topics if t.schema]
    assert with_schema
    assert all(client.get_versions(subject) == [1] for subject in with_schema)

    address = demo.upload_dataset(settings, paysim_sample, say=said.append)
    storage = lake.storage_client(settings.gcp_project)
    blob = storage.bucket(settings.dataset_bucket).blob(f"paysim/{paysim_sample.name}")
    assert address.endswith(paysim_sample.name)
    assert blob.download_as_bytes() == paysim_sample.read_bytes()


def test_the_demo_runs_the_whole_pipeline(settings: Settings, stack: Stack) -> None:
    """``make demo``'s command, on generated rows: every row in the lake once, every email sent."""
    rows = 3_000
    finished = _demo(settings, "--rows", str(rows), "--idle-exit", "5")

    transactions = lake_records(settings, "transaction")
    frauds = lake_records(settings, "fraud_confirmation")
    ids = [record["transaction_id"] for record in transactions + frauds]
    assert len(ids) == len(set(ids)) == rows
    assert frauds and all(record["status"] == "pending" for record in frauds)
    email_log = lake_records(settings, "email_confirmation")
    assert sorted(entry["transaction_id"] for entry in email_log) == sorted(ids)
    assert len(mails_to(stack.mail_api_url, settings.customer_email_domain)) == rows
    for folder in ("transaction", "fraud_confirmation", "email_confirmation"):
        assert f"/{folder}/: " in finished.stdout
    # The end is a summary for a person: no per-batch log lines on the terminal.
    summary = finished.stdout[finished.stdout.index("fraudstream demo:") :]
    assert f"{rows:,} rows produced" in summary
    assert "non-fraud consumer" in summary and "fraud consumer" in summary
    # The case table holds every flagged transaction, pending until its customer answers.
    table = case_rows(settings)
    assert sorted(table) == sorted(record["transaction_id"] for record in frauds)
    assert {row["status"] for row in table.values()} == {"pending"}
    assert f"label: {len(frauds):,} flagged, {len(frauds):,} pending" in summary
    assert "batch written" not in finished.stdout + finished.stderr
    # Libraries (Alembic's migration above all) say nothing at INFO.
    library_info = [
        line
        for line in finished.stderr.splitlines()
        if '"level": "INFO"' in line and '"logger": "fraudstream' not in line
    ]
    assert not library_info, library_info[:3]


def test_the_live_demo_waits_for_the_last_payment(settings: Settings, stack: Stack) -> None:
    """``make demo-live``'s command: the consumers run while the payments go out, so a
    consumer whose topic is quiet for a while (the first fraud comes about 6 s in) must not
    stop before the last payment is out."""
    rows = 2_000
    finished = _demo(settings, "--rows", str(rows), "--rate", "100", "--idle-exit", "2")

    frauds = lake_records(settings, "fraud_confirmation")
    transactions = lake_records(settings, "transaction")
    ids = [record["transaction_id"] for record in transactions + frauds]
    assert len(ids) == len(set(ids)) == rows
    assert frauds, "the fraud consumer stopped before the first fraud came"
    assert sorted(case_rows(settings)) == sorted(record["transaction_id"] for record in frauds)
    assert len(mails_to(stack.mail_api_url, settings.customer_email_domain)) == rows
    assert "latency: " in finished.stdout


def test_a_second_demo_sends_new_payments_and_says_what_it_sent(
    settings: Settings, stack: Stack
) -> None:
    """``make demo`` then ``make demo-live``: the second draws new rows (the first's were
    all sent), so its customers get emails too and the lake holds each payment once; its
    summary counts its own rows. A file given again is not sent twice unless asked."""
    rows = 1_000
    first = _demo(settings, "--rows", str(rows), "--idle-exit", "3")
    second = _demo(settings, "--rows", str(rows), "--rate", "250", "--idle-exit", "2")

    assert "drawing 1,000 new ones" in second.stdout
    for finished in (first, second):
        assert f"fraudstream demo: {rows:,} rows produced" in finished.stdout
    assert len(mails_to(stack.mail_api_url, settings.customer_email_domain)) == 2 * rows
    lake = lake_records(settings, "transaction") + lake_records(settings, "fraud_confirmation")
    ids = [record["transaction_id"] for record in lake]
    assert len(ids) == len(set(ids)) == 2 * rows

    again = _demo(settings, str(REPO_ROOT / "build/demo/paysim-generated-1000.csv"))
    assert "was sent in full by an earlier demo, nothing new to send; --again" in again.stdout
    assert len(mails_to(stack.mail_api_url, settings.customer_email_domain)) == 2 * rows


def test_the_demo_sends_the_first_rows_only_when_limited(settings: Settings, stack: Stack) -> None:
    finished = _demo(settings, "--rows", "2000", "--limit", "300", "--idle-exit", "3")
    assert "fraudstream demo: 300 rows produced" in finished.stdout
    assert len(mails_to(stack.mail_api_url, settings.customer_email_domain)) == 300


def _demo(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``fraudstream demo`` with ``arguments``, run to its end: it must exit 0."""
    finished = subprocess.run(
        [sys.executable, "-m", "fraudstream", "demo", *arguments],
        check=False,
        cwd=REPO_ROOT,
        env=environment(settings, batch_max_seconds=1),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished
