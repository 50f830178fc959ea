"""Schema migrations (Alembic): which revision a database is at, and the upgrade to this version's.

One revision per schema change, in ``versions/`` (``NNNN_what.py``, ``down_revision`` the one
before). A new database is made whole by ``init_db`` and stamped with the newest revision; a
database of a release before the migrations has no ``alembic_version`` table and is recognised
by its tables and columns (``legacy_revision``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file: the revisions here, on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The revision of this version's schema."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def between(before: str, after: str) -> list[str]:
    """The revisions after ``before`` up to ``after``, oldest first, each with its first line."""
    scripts = ScriptDirectory.from_config(alembic_config()).iterate_revisions(after, before)
    return [f"{s.revision}: {s.doc.splitlines()[0]}" for s in reversed(list(scripts))]


def current_revision(connection: Connection) -> str | None:
    """The database's revision: its ``alembic_version``, else what its tables say; None for a
    database without leaderboard tables."""
    if inspect(connection).has_table(VERSION_TABLE):
        return MigrationContext.configure(connection).get_current_revision()
    return legacy_revision(connection)


def legacy_revision(connection: Connection) -> str | None:
    """The revision of a database made before the migrations, from what each schema added."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    if not {"teams", "submissions"} <= tables:
        return None
    columns = {column["name"] for column in inspector.get_columns("submissions")}
    if "ladder_accepted" in columns:
        return "0008"
    if "started_at" in columns:
        return "0007"
    if "status" in columns:
        return "0006"
    for table, revision in (("invites", "0005"), ("token_failures", "0004"),
                            ("login_sessions", "0003"), ("final_rankings", "0002")):  # fmt: skip
        if table in tables:
            return revision
    return "0001"


def stamp_head(connection: Connection) -> None:
    """Record that the database has this version's schema (after ``create_all``)."""
    command.stamp(alembic_config(connection), "head")


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to ``head()``, in one transaction where the backend allows it (SQLite
    commits its table changes as it goes); returns the revisions before and after."""
    with engine.begin() as connection:
        before = current_revision(connection)
        if before is None:
            raise ValueError("the database has no leaderboard tables: nothing to upgrade")
        config = alembic_config(connection)
        if not inspect(connection).has_table(VERSION_TABLE):
            command.stamp(config, before)
        command.upgrade(config, "head")
    return before, head()
