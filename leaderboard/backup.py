"""Backups of a running leaderboard: the database (SQLite's online backup API, or pg_dump for
PostgreSQL) together with the stored submission files, and the restore of both."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from flask import Flask
from sqlalchemy import make_url

from leaderboard.db import engine_of
from leaderboard.storage import private_dir, private_file, stored_files

SQLITE_FILE = "leaderboard.sqlite"
POSTGRES_FILE = "leaderboard.pgdump"
FILES_DIR = "submissions"


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says why."""


def backup(app: Flask, destination: Path) -> str:
    """Write ``destination/leaderboard.sqlite`` (or ``.pgdump``) and ``destination/submissions``."""
    database = backup_database(app, destination)
    copied = _copy_files(Path(app.config["UPLOAD_FOLDER"]), destination / FILES_DIR)
    return f"{database} and {copied} submission files"


def backup_database(app: Flask, destination: Path) -> str:
    """Write ``destination/leaderboard.sqlite`` (or ``.pgdump``) alone; returns its name.

    ``leaderboard restore`` takes the folder back (it copies no files when there are none).
    """
    private_dir(destination)  # private scores and every team's files
    url = make_url(app.config["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        _sqlite_copy(_sqlite_path(url), destination / SQLITE_FILE)
        return SQLITE_FILE
    if url.get_backend_name() == "postgresql":
        private_file(destination / POSTGRES_FILE)  # pg_dump keeps the mode of the file it finds
        _run(["pg_dump", "--format=custom", "--no-owner", *_schema_options(url), "--file",
              str(destination / POSTGRES_FILE), "--dbname", _libpq(url)], url)  # fmt: skip
        return POSTGRES_FILE
    raise BackupError(f"backups support SQLite and PostgreSQL, not {url.get_backend_name()}")


def restore(app: Flask, source: Path) -> str:
    """Replace the database by the backup in ``source`` and copy back its submission files."""
    url = make_url(app.config["DATABASE_URL"])
    engine_of(app).dispose()
    if url.get_backend_name() == "sqlite":
        if not (source / SQLITE_FILE).is_file():
            raise BackupError(f"{source}: no {SQLITE_FILE} in this folder; is it a backup?")
        live = _sqlite_path(url)
        if live.exists() and (source / SQLITE_FILE).samefile(live):
            raise BackupError(f"{source / SQLITE_FILE} is the live database, not a backup")
        _sqlite_copy(source / SQLITE_FILE, live)
    elif url.get_backend_name() == "postgresql":
        if not (source / POSTGRES_FILE).is_file():
            raise BackupError(f"{source}: no {POSTGRES_FILE} in this folder; is it a backup?")
        _drop_tables_not_in(app, source / POSTGRES_FILE)
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
              *_schema_options(url), "--dbname", _libpq(url), str(source / POSTGRES_FILE)],
             url)  # fmt: skip
    else:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {url.get_backend_name()}")
    copied = _copy_files(source / FILES_DIR, Path(app.config["UPLOAD_FOLDER"]))
    return f"database and {copied} submission files"


def _drop_tables_not_in(app: Flask, dump: Path) -> None:
    """Drop the leaderboard's tables that the dump lacks (made by a later ``leaderboard upgrade``):
    pg_restore --clean drops only the dump's own, and theirs refer to them."""
    from sqlalchemy import inspect

    from leaderboard.migrations import VERSION_TABLE
    from leaderboard.models import Base

    if shutil.which("pg_restore") is None:
        raise BackupError("pg_restore not found; install the PostgreSQL client tools")
    listing = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True)
    if listing.returncode != 0:
        raise BackupError(f"pg_restore cannot read {dump}: {listing.stderr.strip()}")
    in_dump = {
        fields[5]
        for fields in (line.split() for line in listing.stdout.splitlines())
        if len(fields) > 5 and fields[3] == "TABLE" and fields[4] != "DATA"
    }
    ours = {*Base.metadata.tables, VERSION_TABLE}
    with engine_of(app).begin() as connection:
        quote = connection.dialect.identifier_preparer.quote
        for name in set(inspect(connection).get_table_names()) & ours - in_dump:
            connection.exec_driver_sql(f"DROP TABLE {quote(name)} CASCADE")


def _sqlite_path(url) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy a live SQLite database page by page, consistent even while the server writes."""
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    if not target.parent.is_dir():
        private_dir(target.parent)
    private_file(target)
    src = dst = None
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        src.backup(dst)
    except sqlite3.Error as err:
        raise BackupError(f"cannot copy the SQLite database {source} to {target}: {err}") from None
    finally:
        for connection in (src, dst):
            if connection is not None:
                connection.close()


def _schema_options(url) -> list[str]:
    """``--schema NAME`` when the URL pins a search_path (as the tests do): dump only that."""
    match = re.search(r"search_path=([A-Za-z_][A-Za-z0-9_]*)", str(url.query.get("options", "")))
    return ["--schema", match.group(1)] if match else []


def _libpq(url) -> str:
    """The URL as libpq wants it: no SQLAlchemy driver name and no password (that goes in env)."""
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run(command: list[str], url) -> None:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} not found; install the PostgreSQL client tools")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()}")


def _copy_files(source: Path, target: Path) -> int:
    """Copy the stored files that ``target`` lacks; names are hashes, so a present file is equal."""
    copied = 0
    if not source.is_dir():
        return 0
    private_dir(target)
    for path in stored_files(source):
        destination = target / path.parent.name / path.name
        if destination.exists():
            continue
        private_dir(destination.parent)
        handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".incoming-")
        os.close(handle)
        shutil.copyfile(path, temporary)
        os.replace(temporary, destination)
        copied += 1
    return copied
