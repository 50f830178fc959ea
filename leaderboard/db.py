"""The database engine of an app, its sessions, and the one ``session_scope`` every change goes through."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import Engine, create_engine, event, inspect, make_url, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from leaderboard import storage
from leaderboard.config import ConfigError
from leaderboard.models import (
    AuditEntry,
    Base,
    BoardVersion,
    FinalRanking,
    Setting,
    Submission,
    Team,
)
from leaderboard.state import state_of

# The row that write transactions update first, so that checks and inserts (the daily quota)
# run one at a time on every backend: SQLite takes its write lock, PostgreSQL a row lock.
WRITE_LOCK = "write_lock"
REVEALED = "revealed"
CLOSED_AT = "closed_at"  # set by the reveal when it closes submissions early
# Set by the first reveal and never cleared: from then on the finals cannot change, and every
# change to the data is written to the audit log (``_audit_after_first_reveal``).
FINALS_FROZEN = "finals_frozen_at"
# Everything a leaderboard page shows comes from these tables and settings: a change to any of
# them bumps ``BoardVersion`` in the same transaction (see ``_bump_board_version``).
BOARD_TABLES = (Team, Submission, FinalRanking)
BOARD_SETTINGS = (REVEALED, CLOSED_AT)


def make_engine(url: str, *, busy_timeout_ms: int) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    # A plain path gets its folder made (owner-only); a URI filename (?uri=true, "file:...") is
    # used as given.
    path = None
    if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
        path = os.path.abspath(parsed.database)
        if not os.path.isdir(os.path.dirname(path)):
            storage.private_dir(os.path.dirname(path))
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, connection_record):
        if path is not None:  # before WAL mode: the -wal and -shm files take the file's mode
            _make_private(path)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses no commit
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    return engine


def _make_private(path: str) -> None:
    """The database holds private scores: owner-only, with the -wal and -shm files of an old one."""
    for name in (path, path + "-wal", path + "-shm"):
        try:
            os.chmod(name, storage.PRIVATE_FILE)
        except FileNotFoundError:
            pass
        except OSError:  # a read-only disk, or another owner's file: reading may still work
            return


@dataclass(frozen=True)
class Database:
    """An app's part of the database: its engine and its session factory."""

    engine: Engine
    sessions: sessionmaker


def init_app(app: Flask) -> None:
    """Attach an engine and a session factory to ``app``; connect lazily, on first use."""
    engine = make_engine(
        app.config["DATABASE_URL"], busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"]
    )
    # The audit log's clock: the app's, read when a session flushes (tests move it).
    sessions = sessionmaker(
        engine, expire_on_commit=False, info={CLOCK: lambda: app.config["NOW"]()}
    )
    event.listen(sessions, "before_flush", _bump_board_version)
    event.listen(sessions, "before_flush", _audit_after_first_reveal)
    state_of(app).hold(Database(engine, sessions))


def _bump_board_version(session: Session, flush_context, instances) -> None:
    """Count one more board change when this flush writes anything a board shows."""
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(
        isinstance(o, BOARD_TABLES) or (isinstance(o, Setting) and o.name in BOARD_SETTINGS)
        for o in changed
    ):
        table = BoardVersion.__table__
        session.connection().execute(table.update().values(version=table.c.version + 1))


AUDITED_CHANGES = 20  # the most changed rows one audit entry names; it counts the rest
AUDITS_ITSELF = "leaderboard.audits_itself"  # session.info key: see ``audits_itself``
CLOCK = "leaderboard.clock"  # session.info key: the app's clock, for the audit log's times


def audits_itself(session: Session) -> None:
    """Mark ``session`` as an action that writes its own audit entry (reveal, undo, re-rank):
    its flushes are not logged again change by change."""
    session.info[AUDITS_ITSELF] = True


def _audit_after_first_reveal(session: Session, flush_context, instances) -> None:
    """Once the first reveal froze the finals, every flush that changes teams, submissions, final
    rankings or settings, by whatever path (a page, the API, the CLI, a worker), writes what it
    changed to the audit log, unless the action wrote its own entry (reveal, undo, re-rank)."""
    changed = [
        o
        for o in (*session.new, *session.dirty, *session.deleted)
        if isinstance(o, (*BOARD_TABLES, Setting)) and (o in session.new or session.is_modified(o))
    ]
    if (
        not changed
        or session.info.get(AUDITS_ITSELF)
        or any(isinstance(o, AuditEntry) for o in session.new)
    ):
        return
    with session.no_autoflush:
        frozen = session.get(Setting, FINALS_FROZEN)
    if frozen is None or not frozen.value:
        return
    words = [_describe_change(session, o) for o in changed]
    detail = "; ".join(words[:AUDITED_CHANGES])
    if len(words) > AUDITED_CHANGES:
        detail += f"; and {len(words) - AUDITED_CHANGES} more"
    now = session.info[CLOCK]()
    session.add(AuditEntry(at=now, action="change after the reveal", detail=detail))


def _describe_change(session: Session, row: object) -> str:
    what = {Team: "team", Submission: "submission", FinalRanking: "final ranking",
            Setting: "setting"}[type(row)]  # fmt: skip
    name = getattr(row, "name", None) if isinstance(row, (Team, Setting)) else None
    label = f"{what} {name!r}" if name else f"{what} #{getattr(row, 'id', None) or 'new'}"
    if row in session.new:
        owner = f" of team #{row.team_id}" if isinstance(row, Submission) else ""
        return f"{label}{owner} added"
    if row in session.deleted:
        return f"{label} deleted"
    state = inspect(row)
    fields = sorted(a.key for a in state.attrs if a.history.has_changes())
    return f"{label}: {', '.join(fields)} changed"


def board_version(session: Session) -> int:
    """The counter of board changes: one cheap query that tells whether a cached board is stale."""
    return session.execute(select(BoardVersion.version)).scalar_one()


def missing_tables(app: Flask) -> str | None:
    """Why the database cannot serve yet (no file, no tables, no connection), or None when ready.

    Looks without creating anything: a SQLite file that does not exist is not opened, since
    opening it would leave an empty database behind.
    """
    engine = engine_of(app)
    url = engine.url
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not url.query.get("uri") and not os.path.exists(url.database):
            return f"there is no database at {url.database}"
    from leaderboard import migrations

    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
            missing = sorted(set(Base.metadata.tables) - present)
            # An older schema lacks the tables of later versions: outdated_schema says so.
            if missing and migrations.current_revision(connection) not in (None, migrations.head()):
                return None
    except OperationalError as err:
        return f"cannot connect to the database {shown} ({str(err.orig).strip()})"
    if missing:
        return f"the database {shown} lacks leaderboard tables ({', '.join(missing)})"
    return None


UPGRADE_HINT = "run `leaderboard upgrade` (it backs the database up first)"


def outdated_schema(app: Flask) -> str | None:
    """What to do with a database whose schema an older version made, or None when it has this
    version's schema (or no tables yet). Nothing is written to it."""
    from leaderboard import migrations

    engine = engine_of(app)
    with engine.connect() as connection:
        revision = migrations.current_revision(connection)
        outdated = _outdated(connection)
    head = migrations.head()
    shown = engine.url.render_as_string(hide_password=True)
    if revision is None or (revision == head and not outdated):
        return None
    if revision == head:  # the schema's revision, without all its columns: not made by us
        lacks = "; ".join(f"{table} lacks {', '.join(cols)}" for table, cols in outdated.items())
        return (
            f"the database {shown} lacks columns of its schema {head} ({lacks}); put a backup "
            "back with `leaderboard restore`, or give this version a new database "
            "(LEADERBOARD_DATABASE_URL)"
        )
    return (
        f"the database {shown} was made by an older version of the leaderboard (schema "
        f"{revision}, this version's is {head}): {UPGRADE_HINT}"
    )


def _outdated(connection) -> dict[str, list[str]]:
    """The columns of this version that the database's existing tables lack, by table."""
    inspector = inspect(connection)
    outdated = {}
    for name, table in Base.metadata.tables.items():
        if inspector.has_table(name):
            present = {column["name"] for column in inspector.get_columns(name)}
            missing = [column.name for column in table.columns if column.name not in present]
            if missing:
                outdated[name] = missing
    return outdated


def engine_of(app: Flask) -> Engine:
    return state_of(app).part(Database).engine


def sessions_of(app: Flask) -> sessionmaker:
    """The app's session factory."""
    return state_of(app).part(Database).sessions


@contextmanager
def session_scope(app: Flask, *, write: bool = False) -> Iterator[Session]:
    """A session that commits when the block ends, or rolls back and re-raises.

    With ``write=True`` the transaction first takes the write lock, so that what it checks
    (quota, number of finals, a free team name) cannot change before it commits.
    """
    session = sessions_of(app)()
    try:
        if write:
            session.execute(
                update(Setting).where(Setting.name == WRITE_LOCK).values(value=Setting.value)
            )
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def init_db(app: Flask) -> None:
    """Create the tables and the settings rows if they are missing; safe to run again. In models
    mode, put in the database the files that workers read (``shared_files.publish``).

    A new database is stamped with this version's schema revision. ConfigError for a database
    that an older version made: ``leaderboard upgrade`` brings it up to date.
    """
    from leaderboard import migrations, shared_files

    problem = outdated_schema(app)
    if problem:
        raise ConfigError(problem)
    with engine_of(app).begin() as connection:
        Base.metadata.create_all(connection)
        if not inspect(connection).has_table(migrations.VERSION_TABLE):
            migrations.stamp_head(connection)
    init_rows(app)
    shared_files.publish(app)


def init_rows(app: Flask) -> None:
    """The settings rows and the board's counter, where missing (after create_all or an upgrade)."""
    with session_scope(app) as session:
        for name, value in ((WRITE_LOCK, ""), (REVEALED, ""), (CLOSED_AT, "")):
            if session.get(Setting, name) is None:
                session.add(Setting(name=name, value=value))
        if session.get(BoardVersion, 1) is None:
            session.add(BoardVersion(id=1, version=0))
