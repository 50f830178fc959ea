"""Alembic's environment: run the revisions on the connection that ``leaderboard upgrade`` gives.

There is no alembic.ini: ``leaderboard.migrations.upgrade`` builds the configuration and passes
its open connection, so the revisions run with the app's engine (its SQLite pragmas included).
"""

from __future__ import annotations

from alembic import context

from leaderboard.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite alters a column (nullable, type) only by copying its table: Alembic's batch mode.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
