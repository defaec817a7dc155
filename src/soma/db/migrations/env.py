"""Alembic environment: runs Soma's migrations on the connection `soma migrate` hands over."""

from alembic import context

from soma.db import tables

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=tables.metadata, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
