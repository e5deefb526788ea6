"""What the demo says before a long run (no server)."""

from __future__ import annotations

from pathlib import Path

from fraudstream.wiring.demo import LONG_RUN_EMAILS, warn_if_long


def _csv(path: Path, rows: int) -> Path:
    path.write_bytes(b"step,type,amount\n" + b"1,PAYMENT,9.0\n" * rows)
    return path


def test_a_run_of_more_than_a_few_hundred_thousand_emails_is_announced_with_its_time(
    tmp_path: Path,
) -> None:
    said: list[str] = []
    big = _csv(tmp_path / "big.csv", LONG_RUN_EMAILS + 60_000)
    warn_if_long(big, None, said.append)
    assert said == [
        "this run emails 260,000 customers: about 4 minutes at 1,000 emails a second here; "
        "--limit N sends the first N rows"
    ]
    said.clear()
    warn_if_long(big, 1_000, said.append)  # limited: a short run, nothing to say
    warn_if_long(_csv(tmp_path / "small.csv", 20_000), None, said.append)
    assert said == []
