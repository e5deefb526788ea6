"""Root starts the stack's PostgreSQL from a folder other users cannot enter (root's home,
any `mktemp -d`): the cluster is made and answers, and `down` leaves nothing behind."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import psycopg
import pytest

from fraudstream.devstack import postgres as devstack_postgres
from fraudstream.devstack import process, services
from fraudstream.devstack import stack as devstack
from fraudstream.devstack.install import ensure_installed
from fraudstream.devstack.layout import HOST, POSTGRES_USER, cache_dir, run_dir
from tests.integration.conftest import free_port


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: root runs PostgreSQL as postgres")
def test_root_starts_postgresql_from_a_folder_only_it_may_enter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = ensure_installed(cache_dir())  # the running stack's tools, before we move
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    monkeypatch.setenv("DEVSTACK_HOME", str(private / ".devstack"))
    monkeypatch.chdir(private)
    port = free_port()
    monkeypatch.setattr(services, "POSTGRES_PORT", port)
    run_dir().mkdir(parents=True)

    devstack_postgres.start_postgres(installed, run_dir() / "postgres")
    try:
        kept = (run_dir() / "postgres").resolve()
        assert not kept.is_relative_to(private)  # where the postgres user can reach it
        url = (
            f"host={HOST} port={port} dbname=postgres user={POSTGRES_USER} "
            f"password={devstack_postgres.database_password()}"
        )
        _wait_until_it_answers(url)
    finally:
        process.stop(run_dir(), "postgresql")
        devstack.down(log=lambda _line: None, keep_logs=False)
    assert not kept.exists() and not kept.parent.exists()


def _wait_until_it_answers(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as connection:
                assert connection.execute("select 1").fetchone() == (1,)
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                log = (run_dir() / "logs" / "postgresql.log").read_text()[-2000:]
                raise AssertionError(f"PostgreSQL did not answer:\n{log}") from None
            time.sleep(0.2)
