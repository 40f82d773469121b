"""Alembic environment of the history store: runs on the connection kisys hands over."""

from __future__ import annotations

from alembic import context


connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
