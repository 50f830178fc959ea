"""Receiving a submission, the same way for the web form, the API and ``leaderboard
add-reference``: size, window, refused uploads, quota, a file already sent, validation, storage,
and the database row, in that order (reference rows skip the window, the refusals and the quota).
A team's upload refused as invalid is counted (REFUSED_PER_DAY a UTC day).

A prediction file is scored on the spot. In models mode (``LEADERBOARD_SUBMISSIONS=models``)
an upload is an ONNX model: its file is checked without running it, stored, recorded as
``queued`` and handed to the queue, where a worker scores it (``leaderboard.jobs``).

A refused upload raises the ``leaderboard.errors`` error of its rule. The checks take the session,
the settings (``config``) and the clock as arguments; the steps that open sessions, score or queue
take the ``app`` that holds them (its settings, clock, database, answer key and queue). An upload opens two database sessions (the
caller's look-up of the team makes three): the checks before scoring, and the row under the
write lock, where the quota, the window and a file already sent are checked again.
"""

from __future__ import annotations

import math
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from challenge.model import ModelError, ModelLimits, check_model_file
from challenge.submission import SubmissionError, format_size
from leaderboard import errors, final, grading, ladder, queries, queue, shared_files, storage
from leaderboard.actions import Clock, Config, remaining_today
from leaderboard.config import upload_limit
from leaderboard.db import session_scope
from leaderboard.models import Submission, Team

REFERENCE_NAME_MAX_CHARS = 200  # a reference row names a method, which may take more words


@dataclass(frozen=True)
class Accepted:
    submission: Submission
    remaining_today: int | None  # None for a reference row, which has no quota
    scored: grading.Scored | None  # None for a model, which a worker scores later


def check_open(db: Session, team: Team, *, config: Config, clock: Clock) -> None:
    """NotOpenYet, WindowClosed (unless late uploads are taken) or Disqualified."""
    moment = clock()
    if config["OPEN_AT"] and moment < config["OPEN_AT"]:
        raise errors.NotOpenYet(config["OPEN_AT"])
    check_window(db, moment, config=config)
    if team.disqualified_reason is not None:
        raise errors.Disqualified(team.disqualified_reason)


def is_late(db: Session, moment: datetime, *, config: Config) -> bool:
    """Whether an upload at ``moment`` comes after the close (the configured one or the reveal)."""
    close = final.close_time(db, config)
    return close is not None and moment >= close


def check_window(db: Session, moment: datetime, *, config: Config) -> None:
    """WindowClosed for an upload at ``moment`` after the close, unless late ones are taken."""
    if is_late(db, moment, config=config) and not config["LATE_SUBMISSIONS"]:
        raise errors.WindowClosed(final.close_time(db, config))


def check_quota(db: Session, team: Team, *, config: Config, clock: Clock) -> int:
    """The number of submissions the team has left today; QuotaReached when none."""
    remaining = remaining_today(db, team.id, config=config, clock=clock)
    if remaining == 0:
        raise errors.QuotaReached(config["DAILY_QUOTA"])
    return remaining


def check_refused(db: Session, team: Team, *, config: Config, clock: Clock) -> None:
    """RefusedLimitReached, with the seconds to the next UTC day, when the team's uploads
    refused as invalid today reached REFUSED_PER_DAY (0: no limit)."""
    limit = config["REFUSED_PER_DAY"]
    now = clock()
    if limit and queries.refused_today(db, team.id, now=now) >= limit:
        tomorrow = queries.utc_day_start(now) + timedelta(days=1)
        raise errors.RefusedLimitReached(limit, max(1, math.ceil((tomorrow - now).total_seconds())))


def count_refused(team: Team, *, app: Flask) -> int:
    """Count one upload of ``team`` refused as invalid, under the write lock; today's count."""
    with session_scope(app, write=True) as db:
        return queries.add_refused(db, team.id, now=app.config["NOW"]())


def too_large_message(config) -> str:
    """What every oversized request is told, by the app or by waitress in front of it."""
    return f"the upload is larger than the limit of {format_size(upload_limit(config))}"


def takes_models(config: Config) -> bool:
    """Whether teams upload ONNX models (scored by workers) rather than prediction files."""
    return config["SUBMISSIONS"] == "models"


def check_new_file(db: Session, team: Team, sha256: str) -> None:
    """AlreadySent, naming the earlier submission, when the team already sent this very file;
    it is neither scored again nor counted against the quota."""
    earlier = queries.team_submission_of_file(db, team.id, sha256)
    if earlier is not None:
        raise errors.AlreadySent(earlier.id, earlier.created_at, sha256)


def read_upload(upload: FileStorage | None, *, config: Config) -> tuple[bytes, str]:
    """The bytes and a display name of the uploaded file; InvalidInput or TooLarge."""
    models = takes_models(config)
    what, default = ("ONNX model", "model.onnx") if models else ("CSV", "submission.csv")
    if upload is None:
        raise errors.InvalidInput(
            f"no file: send the submission {what} in the multipart field 'file'"
        )
    # Only the base name, for display; the file is stored under its hash, never under this name.
    name = os.path.basename((upload.filename or "").replace("\\", "/")) or default
    name = "".join(c for c in name if unicodedata.category(c) not in queries.REFUSED_CATEGORIES)
    data = read_limited(upload.stream, upload_limit(config))
    return data, name.strip()[:200] or default


def read_limited(stream: BinaryIO, limit: int) -> bytes:
    """At most ``limit`` bytes from ``stream``; TooLarge when there is more."""
    data = stream.read(limit + 1)  # one byte more than allowed tells "over" from "at"
    if len(data) > limit:
        raise errors.TooLarge(
            f"the file is larger than the limit of {format_size(limit)}", limit=limit
        )
    return data


def receive(team: Team, upload: FileStorage | None, note: str, *, app: Flask) -> Accepted:
    """Check, validate, score, store and record one upload; the error of the broken rule
    otherwise. Read first (bounded by the size limit), then one session checks the window, the
    team, its refused uploads of today, the quota and a file already sent, before any parsing:
    a refused file costs nothing. A file refused as invalid counts against REFUSED_PER_DAY."""
    config, clock = app.config, app.config["NOW"]
    try:
        note = queries.clean_text(note or "", max_chars=config["NOTE_MAX_CHARS"], what="the note")
    except ValueError as err:
        raise errors.InvalidInput(str(err)) from None
    data, name = read_upload(upload, config=config)
    with session_scope(app) as db:
        check_open(db, team, config=config, clock=clock)
        check_refused(db, team, config=config, clock=clock)
        check_quota(db, team, config=config, clock=clock)
        check_new_file(db, team, storage.sha256_of(data))
    try:
        if takes_models(config):
            return record_model(team, data, name=name, note=note, app=app)
        return record(team, data, name=name, note=note, app=app)
    except errors.InvalidInput:
        count_refused(team, app=app)
        raise


def add_reference(name: str, stream: BinaryIO, *, filename: str, app: Flask) -> Accepted:
    """Score a file as reference row ``name`` (a baseline, shown but never ranked), made if new.

    The same path as a team's upload: size limit, a file already sent, validator, storage; the
    row is made with the submission, so a refused file leaves nothing behind. In models mode a
    ``.onnx`` file is queued like a team's model; a prediction file is still scored at once
    (the organizers hold the test records, so they can make one).
    """
    config = app.config
    if takes_models(config) and filename.lower().endswith(".onnx"):
        data = read_limited(stream, config["MODEL_MAX_BYTES"])
        return record_model(name, data, name=filename, note="reference", app=app)
    data = read_limited(stream, config["MAX_UPLOAD_BYTES"])
    return record(name, data, name=filename, note="reference", app=app)


def _reference_row(db: Session, name: str, *, clock: Clock) -> Team:
    """The reference row called ``name``, made if missing; Conflict when a team has that name."""
    team = queries.team_by_name(db, name)
    if team is not None and not team.is_reference:
        raise errors.Conflict(f"{name!r} is a team, not a reference row")
    if team is None:
        try:
            team, _ = queries.create_team(db, name, now=clock(), is_reference=True,
                                          max_chars=REFERENCE_NAME_MAX_CHARS)  # fmt: skip
        except ValueError as err:
            raise errors.InvalidInput(str(err)) from None
    return team


def record(team: Team | str, data: bytes, *, name: str, note: str, app: Flask) -> Accepted:
    """Validate, score, store and record ``data`` for ``team`` (or the reference row of that
    name); AlreadySent for a file it already sent, InvalidInput for an invalid one,
    QuotaReached over the quota (a reference row has none)."""
    try:
        table, scored = grading.grade(data, name=name, app=app)
    except SubmissionError as err:
        raise errors.InvalidInput(str(err)) from None
    sha256 = storage.store(app.config["UPLOAD_FOLDER"], data)
    submission, remaining = _add_row(
        team,
        app=app,
        scored=True,
        public_scores=grading.table_scores(table, "public", app),
        filename=name,
        note=note,
        sha256=sha256,
        size_bytes=len(data),
        scores_sha256=sha256,  # a prediction file is its own scores
        **scored.columns(),
    )
    return Accepted(submission, remaining, scored)


def record_model(team: Team | str, data: bytes, *, name: str, note: str, app: Flask) -> Accepted:
    """Check, store and record the model file ``data`` for ``team`` (or the reference row of
    that name) as ``queued``, then queue its scoring; AlreadySent for a file it already sent,
    InvalidInput for a file that breaks the model contract, QuotaReached over the quota."""
    check_model_upload(data, name=name, app=app)
    sha256 = storage.store(app.config["UPLOAD_FOLDER"], data, storage.MODEL)
    # In the database too, where workers on other machines read it: written with the row, in
    # one transaction (no third session), and compressed before the write lock is taken.
    submission, remaining = _add_row(
        team, app=app, scored=False, shared=shared_files.pack(data), filename=name, note=note,
        sha256=sha256, size_bytes=len(data), kind="model", status="queued",
    )  # fmt: skip
    # After the commit: a worker that takes the task at once finds the row. A broker that is
    # down loses nothing: the row stays queued until `leaderboard requeue`.
    queue.enqueue_scoring(submission.id, app)
    return Accepted(submission, remaining, None)


def _add_row(
    team: Team | str,
    *,
    app: Flask,
    scored: bool,
    public_scores=None,
    shared: shared_files.Packed | None = None,
    **fields,
) -> tuple[Submission, int | None]:
    """The submission row of an accepted file (``scored`` now, with its ``public_scores``, or
    queued with its model ``shared`` for the workers) and the uploads the team has left today
    (None for a reference row), made under the write lock, where the Ladder judges a scored one
    against the team's best so far."""
    config, clock = app.config, app.config["NOW"]
    with session_scope(app, write=True) as db:
        if not isinstance(team, Team):
            team = _reference_row(db, team, clock=clock)
        check_new_file(db, team, fields["sha256"])  # again: the same file sent twice at once
        # Again, under the write lock: a parallel upload of the same team may have won, and the
        # reveal may have closed submissions since the first check.
        created_at = clock()
        late = False
        remaining = None
        if not team.is_reference:
            remaining = check_quota(db, team, config=config, clock=clock)
            check_window(db, created_at, config=config)
            late = is_late(db, created_at, config=config)
        if scored:
            fields["scored_at"] = created_at
            fields["ladder_accepted"] = ladder.accepts(db, team.id, public_scores, app)
        if shared is not None:
            shared_files.put_packed(db, shared, shared_files.MODEL, now=created_at)
        submission = queries.add_submission(db, team, created_at=created_at, is_late=late, **fields)
    return submission, None if remaining is None else remaining - 1


HOW_TO_MAKE_A_MODEL = (
    "export your trained model with `baselines export CHECKPOINT -o model.onnx` (or "
    "torch.onnx.export), check it with `challenge check-model model.onnx --data DIR`, and "
    "upload model.onnx"
)


def check_model_upload(data: bytes, *, name: str, app: Flask) -> None:
    """InvalidInput with the reason when ``data`` is not a model this challenge can run: a
    prediction file, or a file that breaks the contract of ``challenge.model`` (checked
    without running it)."""
    if _looks_like_predictions(data, name):
        raise errors.InvalidInput(f"{name}: this challenge takes ONNX models, not prediction "
                                  f"files: {HOW_TO_MAKE_A_MODEL}")  # fmt: skip
    limits = ModelLimits(max_bytes=app.config["MODEL_MAX_BYTES"])
    # A private folder of its own: the file is read by name, and nobody else may swap it.
    with tempfile.TemporaryDirectory(prefix="leaderboard-upload-") as folder:
        path = Path(folder, "model.onnx")
        path.write_bytes(data)
        try:
            check_model_file(
                path, record_length=grading.record_length(app), limits=limits, name=name
            )
        except ModelError as err:  # named by the file, as the validator's messages are
            message = str(err)
            named = message if message.startswith(f"{name}: ") else f"{name}: {message}"
            raise errors.InvalidInput(named) from None


def _looks_like_predictions(data: bytes, name: str) -> bool:
    """A CSV (plain or gzip) named so, or text that starts with the submission header."""
    start = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return name.lower().endswith((".csv", ".csv.gz")) or start.startswith(b"event_id")
