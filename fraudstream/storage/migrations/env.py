"""Alembic's entry point for the case table: runs on the connection ``cases.migrate`` hands it."""

from __future__ import annotations

from alembic import context

from fraudstream.storage.case_table import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
