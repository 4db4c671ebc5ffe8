"""Alembic environment for the audit store: always online, on a connection the store lends.

`wardgate.audit._store` runs the upgrade inside its own (locked) transaction and passes that
connection in ``config.attributes["connection"]``; there is no offline/SQL-script mode and no
URL in an ini file, because the store's URL and secrets come from the gateway config.
"""

from __future__ import annotations

from alembic import context

from wardgate.audit._schema import METADATA, VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=METADATA,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
