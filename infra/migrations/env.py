"""Alembic environment: always run by infra.migrate on a connection it opened (online)."""

from __future__ import annotations

from alembic import context

from infra.schema import all_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=all_metadata(),
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
