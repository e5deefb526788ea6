"""`fraudstream replay`, against the real stack: a stopped group is rewound, a running one is
not; an email consumer reading again emails no one twice and writes no batch twice, and the
case consumer reading again rebuilds the case table."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

from google.cloud import storage
from sqlalchemy import delete

from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings
from fraudstream.storage import case_table
from fraudstream.topology import LakeFolder, lake_prefix
from tests.integration.conftest import Stack
from tests.integration.pipeline import (
    case_rows,
    command_output,
    consume,
    consume_cases,
    lake_objects,
    mails_to,
    produce,
    run_command,
    start_consumer,
    wait_until,
)

ROWS = 400


def _lag(settings: Settings, group: str) -> int:
    shown = command_output(settings, "topics")
    line = next(line for line in shown.splitlines() if line.split()[:2] == ["group", group])
    found = re.search(r"lag ([\d,]+)", line)
    return int(found.group(1).replace(",", "")) if found else 0


def _sent_and_written(stack: Stack, settings: Settings) -> tuple[int, list[str], list[str]]:
    mails = len(mails_to(stack.mail_api_url, settings.customer_email_domain))
    written = lake_objects(settings, "transaction"), lake_objects(settings, "email_confirmation")
    return mails, *written


def test_a_group_with_running_members_is_not_moved(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "log.csv"
    write_csv(source, rows=ROWS, seed=11)
    produce(settings, source)
    start_consumer(settings, "non-fraud")
    group = settings.non_fraud_consumer_group
    wait_until(lambda: "1 members" in command_output(settings, "topics"), "a running member")

    refused = run_command(settings, "replay", group, "--to-start")

    assert refused.returncode == 1, refused.stderr
    assert "running members; stop its consumers first" in refused.stderr
    assert refused.stderr.count("\n") == 1  # one line


def test_an_email_group_read_again_emails_no_one_twice(
    stack: Stack, settings: Settings, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    write_csv(first, rows=ROWS, seed=12)
    produce(settings, first)
    time.sleep(1)
    between = datetime.now(UTC)
    write_csv(second, rows=ROWS, seed=13)
    produce(settings, second)
    consume(settings, "non-fraud")
    group = settings.non_fraud_consumer_group
    before = _sent_and_written(stack, settings)
    assert before[0] > 0

    dry = command_output(settings, "replay", group, "--to-start", "--dry-run")
    assert "nothing moved (--dry-run)" in dry and _lag(settings, group) <= settings.topic_partitions

    for where in (["--to-time", between.isoformat()], ["--to-start"]):
        shown = command_output(settings, "replay", group, *where)
        assert "emails no one twice" in shown
        assert _lag(settings, group) > 0  # the group really was moved back
        consume(settings, "non-fraud")
        assert _sent_and_written(stack, settings) == before, where


def test_an_email_group_is_not_moved_while_its_lake_lacks_emailed_batches(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "log.csv"
    write_csv(source, rows=ROWS, seed=14)
    produce(settings, source)
    consume(settings.model_copy(update={"batch_max_records": 50}), "non-fraud")
    bucket = storage.Client(project=settings.gcp_project).bucket(settings.lake_bucket)
    folder = lake_prefix(LakeFolder.TRANSACTIONS, settings.non_fraud_topic)
    for blob in bucket.list_blobs(prefix=folder):  # a folder removed by hand
        blob.delete()

    refused = run_command(settings, "replay", settings.non_fraud_consumer_group, "--to-start")

    assert refused.returncode == 1, refused.stderr
    assert "emailed batches are missing from transaction/" in refused.stderr


def test_the_case_group_read_again_rebuilds_the_case_table(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "log.csv"
    write_csv(source, rows=ROWS * 5, seed=15)
    produce(settings, source)
    consume_cases(settings)
    cases = case_rows(settings)
    assert cases
    engine = case_table.cases_engine(settings.cases_database_url.get_secret_value())
    with engine.begin() as connection:  # the table lost
        connection.execute(delete(case_table.fraud_cases))
    engine.dispose()

    command_output(settings, "replay", settings.cases_consumer_group, "--to-start")
    consume_cases(settings)

    assert case_rows(settings) == cases
