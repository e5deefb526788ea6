"""Where the pipeline keeps what it did: the data lake on Google Cloud Storage (its client
and the names of its objects) and the fraud case table in SQL (its client, its reports and
its Alembic migrations)."""
