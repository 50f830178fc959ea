"""The files that workers read, kept in the database: models, the scores files workers write, and
the challenge's answer key, metric and test.root. A worker on another machine then shares nothing
with the server but the database and the broker; it keeps what it fetched in its own folders.

Each file is a row of ``stored_files``, gzip-compressed and named by the sha256 of its bytes,
and is checked against that hash wherever it is read. No page or route reads that table: whoever
can read it holds the database's password, which opens every private score already.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from leaderboard import storage
from leaderboard.config import ConfigError
from leaderboard.db import session_scope
from leaderboard.models import Setting, StoredFile, Submission

# What a stored file is: a model or a scores file (storage's suffixes), or a challenge file.
MODEL, SCORES = "model", "scores"
ANSWER_KEY, METRIC, TEST_RECORDS = "answer_key", "metric", "test_records"
KIND_OF_SUFFIX = {storage.MODEL: MODEL, storage.PREDICTIONS: SCORES}
# The challenge's files, by kind, with the name each has in a worker's folder (the metric must
# lie beside the answer key, where ``challenge.scoring.load_metric`` looks).
CHALLENGE_FILES = {ANSWER_KEY: "answer_key.csv", METRIC: "metric.json", TEST_RECORDS: "test.root"}
# The settings row naming the sha256 of the challenge file a worker uses ("" for none).
POINTER_PREFIX = "worker_file_"
# The settings that decide how a model is run and scored: a worker takes the server's, stored as
# JSON in this settings row, so that every worker scores alike with nothing but the URLs.
SCORING_SETTINGS = ("MODEL_MAX_BYTES", "MODEL_WALL_S", "MODEL_CPU_S", "MODEL_MEMORY_BYTES",
                    "MODEL_THREADS", "MODEL_STALE_MARGIN_S", "MAX_UPLOAD_BYTES", "PUBLIC_BOARD",
                    "LADDER_LEVEL")  # fmt: skip
SCORING_SETTINGS_ROW = "worker_settings"
# A worker's copy of the challenge files, in its instance folder (owner-only).
WORKER_FOLDER = "worker-files"
INIT_DB_HINT = "run `leaderboard init-db` on the server, with the server's settings"
# The largest file the database keeps: PostgreSQL's largest value is 1 GB, SQLite's 10^9 bytes
# by default. test.root of the full preset (20,000 records of 16,384 samples) is about 400 MB.
MAX_FILE_BYTES = 10**9


@dataclass(frozen=True)
class Packed:
    """A file made ready for ``stored_files``: its sha256, its size and its gzip-compressed bytes."""

    sha256: str
    size_bytes: int
    compressed: bytes


def pack(data: bytes) -> Packed:
    compressed = gzip.compress(data, compresslevel=storage.COMPRESS_LEVEL, mtime=0)
    return Packed(storage.sha256_of(data), len(data), compressed)


def put(db: Session, data: bytes, kind: str, *, now) -> str:
    """Keep ``data`` in the database under its sha256 (once: storing it again does nothing)."""
    sha256 = storage.sha256_of(data)
    if not _held(db, sha256):  # compressed only when new: test.root at every init-db
        put_packed(db, pack(data), kind, now=now)
    return sha256


def put_packed(db: Session, packed: Packed, kind: str, *, now) -> str:
    """``put`` of a file packed beforehand: an upload packs its model before it takes the write
    lock, under which its row and the model are written together."""
    if not _held(db, packed.sha256):
        if db.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        db.execute(
            insert(StoredFile)
            .values(
                sha256=packed.sha256,
                kind=kind,
                size_bytes=packed.size_bytes,
                data=packed.compressed,
                created_at=now,
            )  # fmt: skip
            .on_conflict_do_nothing(index_elements=["sha256"])  # a worker stored it meanwhile
        )
    return packed.sha256


def _held(db: Session, sha256: str) -> bool:
    return db.scalar(select(StoredFile.sha256).where(StoredFile.sha256 == sha256)) is not None


def get(db: Session, sha256: str, kind: str) -> bytes:
    """The bytes of a stored file, checked against their hash; StorageError (MissingFile when it
    is not there) naming the file and what to do."""
    row = db.execute(
        select(StoredFile.kind, StoredFile.data).where(StoredFile.sha256 == sha256)
    ).first()
    what = f"the {kind.replace('_', ' ')} {sha256} in the database (table stored_files)"
    if row is None:
        raise storage.MissingFile(f"{what} is missing: {INIT_DB_HINT}, which stores there "
                                  "the files that the database's rows name")  # fmt: skip
    if row.kind != kind:
        raise storage.StorageError(f"{what} is a {row.kind} file, not a {kind} file")
    try:
        data = gzip.decompress(row.data)
    except (OSError, EOFError) as err:
        raise storage.StorageError(f"{what} is unreadable ({err}): it was altered") from None
    if storage.sha256_of(data) != sha256:
        raise storage.StorageError(f"{what} does not match its sha256: it was altered")
    return data


def store(app: Flask, data: bytes, suffix: str) -> str:
    """Keep a model or a scores file in the app's folder and in the database; its sha256."""
    sha256 = storage.store(app.config["UPLOAD_FOLDER"], data, suffix)
    with session_scope(app) as db:
        put(db, data, KIND_OF_SUFFIX[suffix], now=app.config["NOW"]())
    return sha256


def load(app: Flask, sha256: str, suffix: str = storage.PREDICTIONS) -> bytes:
    """A stored model or scores file: from the app's folder (the server's files, a worker's
    copies), else from the database, kept in the folder for the next time."""
    folder = app.config["UPLOAD_FOLDER"]
    try:
        return storage.load(folder, sha256, suffix)
    except storage.MissingFile as err:
        missing_here = str(err)
    with session_scope(app) as db:
        try:
            data = get(db, sha256, KIND_OF_SUFFIX[suffix])
        except storage.MissingFile:
            raise storage.MissingFile(
                f"{missing_here}, and the database holds no copy (table stored_files); "
                f"{INIT_DB_HINT} where the file is, which copies there those of its folder"
            ) from None
    storage.store(folder, data, suffix)
    return data


# --- the server puts them in --------------------------------------------------------------


def publish(app: Flask) -> None:
    """In models mode, put in the database what workers read: the answer key, its metric (where
    there is one) and test.root, named by the settings rows, the SCORING_SETTINGS, and every
    model and scores file the rows name that the database lacks (those of a database made
    before this version). At ``init_db``: ``leaderboard init-db`` and ``serve``."""
    if app.config["SUBMISSIONS"] != "models":
        return
    key = Path(app.config["ANSWER_KEY"])
    paths = {ANSWER_KEY: key, METRIC: key.with_name(CHALLENGE_FILES[METRIC]),
             TEST_RECORDS: Path(app.config["TEST_RECORDS"])}  # fmt: skip
    now = app.config["NOW"]()
    with session_scope(app) as db:
        for kind, path in paths.items():
            if path.exists() and path.stat().st_size > MAX_FILE_BYTES:
                raise ConfigError(
                    f"{path} is {path.stat().st_size:,} bytes: the database keeps files of at "
                    f"most {MAX_FILE_BYTES:,} bytes for the workers (PostgreSQL's largest "
                    "value is 1 GB); make a challenge with fewer test records (--n-test)"
                )
            if kind == METRIC and not path.exists():
                _set(db, POINTER_PREFIX + kind, "")  # ROC AUC, the default
            else:
                _set(db, POINTER_PREFIX + kind, put(db, path.read_bytes(), kind, now=now))
        scoring = {key: app.config[key] for key in SCORING_SETTINGS}
        _set(db, SCORING_SETTINGS_ROW, json.dumps(scoring, sort_keys=True))
    _publish_stored(app)


def _set(db: Session, name: str, value: str) -> None:
    row = db.get(Setting, name)
    if row is None:
        db.add(Setting(name=name, value=value))
    elif row.value != value:
        row.value = value


def _publish_stored(app: Flask) -> None:
    """Copy into the database the models and scores files of the folder that it lacks."""
    with session_scope(app) as db:
        rows = db.execute(
            select(Submission.sha256, Submission.scores_sha256).where(Submission.kind == "model")
        ).all()
        present = set(db.scalars(select(StoredFile.sha256)))
    wanted = {(row.sha256, storage.MODEL) for row in rows}
    wanted |= {(row.scores_sha256, storage.PREDICTIONS) for row in rows if row.scores_sha256}
    for sha256, suffix in sorted(wanted):
        if sha256 in present:
            continue
        try:
            store(app, storage.load(app.config["UPLOAD_FOLDER"], sha256, suffix), suffix)
        except storage.MissingFile:
            continue  # nowhere: a worker that needs it fails the model with an internal error


def differences(app: Flask) -> list[str]:
    """What workers would take from the database that is not what this server's settings say
    (the answer key, its metric, test.root, scoring settings); empty when all agree. For
    ``leaderboard status``: after a change, `init-db` must run again."""
    key = Path(app.config["ANSWER_KEY"])
    paths = {ANSWER_KEY: key, METRIC: key.with_name(CHALLENGE_FILES[METRIC]),
             TEST_RECORDS: Path(app.config["TEST_RECORDS"])}  # fmt: skip
    with session_scope(app) as db:
        stored = {kind: db.get(Setting, POINTER_PREFIX + kind) for kind in paths}
        scoring = db.get(Setting, SCORING_SETTINGS_ROW)
    differ = []
    for kind, path in paths.items():
        here = _sha256_of_file(path) if path.exists() else ""
        if stored[kind] is None or stored[kind].value != here:
            differ.append(CHALLENGE_FILES[kind])
    ours = {key: app.config[key] for key in SCORING_SETTINGS}
    theirs = json.loads(scoring.value) if scoring is not None else {}
    differ += [key for key in SCORING_SETTINGS if theirs.get(key) != ours[key]]
    return differ


# --- a worker takes them out --------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeFiles:
    """Where a worker's copies of the challenge files are."""

    answer_key: Path  # metric.json beside it, where the challenge has one
    test_records: Path


def fetch_challenge(app: Flask) -> ChallengeFiles:
    """Copy the challenge's files that the database names into this worker's folder
    (``INSTANCE/worker-files``, owner-only), where a copy is missing or differs from the
    database's hash, and check each; StorageError naming what is missing or altered."""
    folder = Path(app.config["INSTANCE_PATH"]) / WORKER_FOLDER
    storage.private_dir(folder)
    with session_scope(app) as db:
        for kind, name in CHALLENGE_FILES.items():
            pointer = db.get(Setting, POINTER_PREFIX + kind)
            if pointer is None and kind != METRIC:
                raise storage.MissingFile(
                    f"the database names no {kind.replace('_', ' ')} for workers (settings row "
                    f"{POINTER_PREFIX + kind}): {INIT_DB_HINT} and LEADERBOARD_SUBMISSIONS=models, "
                    "which stores there the answer key and test.root"
                )
            _copy(db, pointer.value if pointer else "", kind, folder / name)
    return ChallengeFiles(
        folder / CHALLENGE_FILES[ANSWER_KEY], folder / CHALLENGE_FILES[TEST_RECORDS]
    )


def scoring_settings(app: Flask) -> dict[str, Any]:
    """The server's SCORING_SETTINGS, as ``init_db`` stored them; MissingFile when it did not."""
    with session_scope(app) as db:
        row = db.get(Setting, SCORING_SETTINGS_ROW)
    if row is None:
        raise storage.MissingFile(
            f"the database holds no scoring settings for workers (settings row "
            f"{SCORING_SETTINGS_ROW}): {INIT_DB_HINT} and LEADERBOARD_SUBMISSIONS=models"
        )
    return json.loads(row.value)


def _copy(db: Session, sha256: str, kind: str, path: Path) -> None:
    """Make ``path`` hold the stored file ``sha256`` (none for ""), written whole or not at all."""
    if not sha256:
        path.unlink(missing_ok=True)
        return
    if path.exists() and _sha256_of_file(path) == sha256:
        return
    data = get(db, sha256, kind)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=storage.PARTIAL_PREFIX)
    try:
        with os.fdopen(handle, "wb") as out:  # mkstemp: 0600 whatever the umask
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _sha256_of_file(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
