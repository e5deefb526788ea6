"""The whole-log run's checks: each fault a run could leave is named."""

from __future__ import annotations

import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bench.mail_sink import read_log
from bench.memory import PeakMemory
from bench.whole_log import Tally, at_each_tenth


def _whole() -> Tally:
    """Three payments, one of them a fraud: each in the lake once and emailed once."""
    ids = Counter(["t1", "t2", "t3"])
    messages = Counter(["<m1@x>", "<m2@x>", "<m3@x>"])
    return Tally(ids, Counter(ids), messages, Counter(messages), frauds=1, cases=1)


def test_a_whole_run_has_no_problem() -> None:
    assert _whole().problems() == []


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ({"records": Counter(["t1", "t2", "t3", "t3"])}, "1 transactions twice in the lake"),
        ({"emails": Counter(["t1", "t2"])}, "1 transactions without an email-log entry"),
        ({"emails": Counter(["t1", "t2", "t3", "t3"])}, "1 transactions with more than one"),
        ({"taken": Counter(["<m1@x>", "<m2@x>", "<m3@x>", "<m3@x>"])}, "took 4 emails, 3 dist"),
        ({"taken": Counter(["<m1@x>", "<m2@x>"])}, "took 2 emails"),
        ({"cases": 0}, "0 case rows for 1 frauds"),
    ],
)
def test_each_fault_is_named(fault: dict[str, Any], said: str) -> None:
    problems = replace(_whole(), **fault).problems()
    assert len(problems) == 1 and said in problems[0]


def test_the_memory_curve_is_read_at_each_tenth_of_the_run() -> None:
    minutes = list(range(1, 21))
    assert at_each_tenth(minutes) == "2 4 6 8 10 12 14 16 18 20"
    assert at_each_tenth([5]) == " ".join(["5"] * 10)


def test_resident_memory_is_noted_at_each_interval_beside_the_peak() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        memory = PeakMemory({"child": child.pid}, every_seconds=1)
        with memory:
            _sleep_until(lambda: len(memory.resident_by_minute().get("child", [])) >= 2)
        readings = memory.resident_by_minute()["child"]
        assert all(0 < mb <= memory.peaks()["child"] + 1 for mb in readings)
    finally:
        child.kill()
        child.wait()


def _sleep_until(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_the_mail_sink_logs_each_email_it_takes(tmp_path: Path) -> None:
    """Over SMTP, from its own process: each email a line, its Message-ID and recipient;
    SIGTERM stops it with every line written."""
    log, port = tmp_path / "mail.tsv", _free_port()
    command = [sys.executable, "-m", "bench.mail_sink", "--port", str(port), "--log", str(log)]
    sink = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None and "mail sink on" in sink.stdout.readline()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            for number in (1, 2):
                client.send_message(_email(number))
    finally:
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(timeout=10) == 0
    assert read_log(log) == [
        ("<m1@bank.example>", "c1@x.example"),
        ("<m2@bank.example>", "c2@x.example"),
    ]


def _email(number: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "alerts@bank.example"
    message["To"] = f"c{number}@x.example"
    message["Subject"] = "a payment"
    message["Message-ID"] = f"<m{number}@bank.example>"
    message.set_content("body")
    return message


def _free_port() -> int:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        return int(spare.getsockname()[1])
