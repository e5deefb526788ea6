"""The local stack's PostgreSQL: a new cluster per stack, its one login, and the
databases tests make and drop on it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from fraudstream.devstack import process, services
from fraudstream.devstack.install import Installed
from fraudstream.devstack.layout import (
    HOST,
    POSTGRES_DATABASE,
    POSTGRES_PORT,
    POSTGRES_USER,
    run_dir,
)
from fraudstream.devstack.logins import stack_secret


class PostgresError(RuntimeError):
    """The stack's PostgreSQL cannot be set up."""


def start_postgres(installed: Installed, data_dir: Path) -> None:
    """A new PostgreSQL cluster in ``data_dir``, its one login this stack's secret.

    Root runs PostgreSQL as the ``postgres`` user, who may not enter the checkout
    (root's home is 0700, and so is any ``mktemp -d`` folder): the cluster then
    lives in a folder of the postgres user's own under the system's temporary
    folder, which ``data_dir`` links to, and its programs start from ``/``.
    """
    data_dir = _reachable_by_database_owner(data_dir)
    password_file = data_dir.parent / "postgres-initdb-password"
    password_file.write_text(database_password())
    try:
        if services.as_database_owner():  # root: the files are the postgres user's
            shutil.chown(data_dir, "postgres", "postgres")
            shutil.chown(password_file, "postgres", "postgres")
        password_file.chmod(0o600)
        command = services.postgres_init_command(installed, data_dir, password_file)
        result = subprocess.run(command, check=False, capture_output=True, text=True, cwd="/")
    finally:
        password_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise PostgresError(f"initdb failed:\n{result.stdout}{result.stderr}")
    process.start(services.postgresql(installed, data_dir), run_dir())


def _reachable_by_database_owner(data_dir: Path) -> Path:
    """``data_dir``, made; as root, a link to a folder the postgres user can reach."""
    if not services.as_database_owner():
        data_dir.mkdir(mode=0o700)
        return data_dir
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    home = Path(tempfile.gettempdir()) / f"fraudstream-devstack-postgres-{digest}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(mode=0o700)
    shutil.chown(home, "postgres", "postgres")
    (home / "data").mkdir(mode=0o700)
    data_dir.symlink_to(home / "data", target_is_directory=True)
    return home / "data"


def database_password() -> str:
    return stack_secret("postgres-password")


def database_url(database: str = POSTGRES_DATABASE) -> str:
    """The SQLAlchemy URL of ``database`` on this stack's PostgreSQL."""
    return (
        f"postgresql+psycopg://{POSTGRES_USER}:{database_password()}@{HOST}:{POSTGRES_PORT}/"
        f"{database}"
    )


def create_database(name: str) -> None:
    """Make database ``name`` on this stack's PostgreSQL unless it exists."""
    with psycopg.connect(libpq_url("postgres"), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with psycopg.connect(libpq_url("postgres"), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def libpq_url(database: str) -> str:
    return database_url(database).replace("postgresql+psycopg://", "postgresql://")
