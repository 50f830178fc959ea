"""Receiving a submission, the same way for the web form, the API and ``leaderboard
add-reference``: window, quota, size, a file already sent, validation, storage, and the
database row, in that order (reference rows skip the window and the quota).

A prediction file is scored on the spot. In models mode (``LEADERBOARD_SUBMISSIONS=models``)
an upload is an ONNX model: its file is checked without running it, stored, recorded as
``queued`` and handed to the queue, where a worker scores it (``leaderboard.jobs``).
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from flask import abort, current_app
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from challenge.model import ModelError, ModelLimits, check_model_file
from challenge.submission import SubmissionError, format_size
from leaderboard import final, grading, ladder, queries, queue, storage
from leaderboard.actions import now, remaining_today
from leaderboard.config import upload_limit
from leaderboard.db import session_scope
from leaderboard.models import Submission, Team

REFERENCE_NAME_MAX_CHARS = 200  # a reference row names a method, which may take more words


@dataclass(frozen=True)
class Accepted:
    submission: Submission
    remaining_today: int | None  # None for a reference row, which has no quota
    scored: grading.Scored | None  # None for a model, which a worker scores later


def check_open(team: Team) -> None:
    """403 outside the submission window or for a disqualified team."""
    config, moment = current_app.config, now()
    if config["OPEN_AT"] and moment < config["OPEN_AT"]:
        abort(403, f"submissions open at {config['OPEN_AT']:%Y-%m-%d %H:%M} UTC")
    with session_scope() as db:
        is_late(db, moment)
    if team.disqualified_reason is not None:
        abort(403, f"your team is disqualified: {team.disqualified_reason}")


def is_late(db: Session, moment: datetime) -> bool:
    """Whether an upload at ``moment`` is late; 403 after the close unless late ones are taken."""
    close = final.close_time(db, current_app.config)
    if close is None or moment < close:
        return False
    if not current_app.config["LATE_SUBMISSIONS"]:
        abort(403, f"submissions closed at {close:%Y-%m-%d %H:%M} UTC")
    return True


def check_quota(db, team: Team) -> int:
    """The number of submissions the team has left today, or 429 when none."""
    remaining = remaining_today(db, team.id)
    if remaining == 0:
        quota = current_app.config["DAILY_QUOTA"]
        abort(
            429,
            f"daily quota reached: {quota} of {quota} submissions today; "
            "the count starts again at 00:00 UTC",
        )
    return remaining


def too_large_message(config) -> str:
    """What every oversized request is told, by the app or by waitress in front of it."""
    return f"the upload is larger than the limit of {format_size(upload_limit(config))}"


def takes_models() -> bool:
    """Whether teams upload ONNX models (scored by workers) rather than prediction files."""
    return current_app.config["SUBMISSIONS"] == "models"


def check_new_file(db, team: Team, sha256: str) -> None:
    """409 naming the earlier submission when the team already sent this very file; it is
    neither scored again nor counted against the quota."""
    earlier = queries.team_submission_of_file(db, team.id, sha256)
    if earlier is not None:
        abort(
            409,
            f"this file is the same as your submission #{earlier.id} of "
            f"{earlier.created_at:%Y-%m-%d %H:%M} UTC (sha256 {sha256[:12]}...); it was not "
            "scored again and does not count against your quota",
        )


def read_upload(upload: FileStorage | None) -> tuple[bytes, str]:
    """The bytes and a display name of the uploaded file, or 400/413."""
    what, default = ("ONNX model", "model.onnx") if takes_models() else ("CSV", "submission.csv")
    if upload is None:
        abort(400, f"no file: send the submission {what} in the multipart field 'file'")
    # Only the base name, for display; the file is stored under its hash, never under this name.
    name = os.path.basename((upload.filename or "").replace("\\", "/")) or default
    name = "".join(c for c in name if unicodedata.category(c) not in queries.REFUSED_CATEGORIES)
    data = read_limited(upload.stream, upload_limit(current_app.config))
    return data, name.strip()[:200] or default


def read_limited(stream: BinaryIO, limit: int | None = None) -> bytes:
    """At most ``limit`` bytes (the prediction files' limit by default) from ``stream``; 413
    when there is more."""
    limit = current_app.config["MAX_UPLOAD_BYTES"] if limit is None else limit
    data = stream.read(limit + 1)  # one byte more than allowed tells "over" from "at"
    if len(data) > limit:
        abort(413, f"the file is larger than the limit of {format_size(limit)}")
    return data


def receive(team: Team, upload: FileStorage | None, note: str) -> Accepted:
    """Check, validate, score, store and record one upload; aborts with the right 4xx otherwise."""
    check_open(team)
    with session_scope() as db:
        check_quota(db, team)
    try:
        note = queries.clean_text(
            note or "", max_chars=current_app.config["NOTE_MAX_CHARS"], what="the note"
        )
    except ValueError as err:
        abort(400, str(err))
    data, name = read_upload(upload)
    if takes_models():
        return record_model(team, data, name=name, note=note)
    return record(team, data, name=name, note=note)


def add_reference(name: str, stream: BinaryIO, *, filename: str) -> Accepted:
    """Score a file as reference row ``name`` (a baseline, shown but never ranked), made if new.

    The same path as a team's upload: size limit, a file already sent, validator, storage; the
    row is made with the submission, so a refused file leaves nothing behind. In models mode a
    ``.onnx`` file is queued like a team's model; a prediction file is still scored at once
    (the organizers hold the test records, so they can make one).
    """
    if takes_models() and filename.lower().endswith(".onnx"):
        data = read_limited(stream, current_app.config["MODEL_MAX_BYTES"])
        return record_model(name, data, name=filename, note="reference")
    return record(name, read_limited(stream), name=filename, note="reference")


def _reference_row(db: Session, name: str) -> Team:
    """The reference row called ``name``, made if missing; 409 when a team has that name."""
    team = queries.team_by_name(db, name)
    if team is not None and not team.is_reference:
        abort(409, f"{name!r} is a team, not a reference row")
    if team is None:
        try:
            team, _ = queries.create_team(db, name, now=now(), is_reference=True,
                                          max_chars=REFERENCE_NAME_MAX_CHARS)  # fmt: skip
        except ValueError as err:
            abort(400, str(err))
    return team


def record(team: Team | str, data: bytes, *, name: str, note: str) -> Accepted:
    """Validate, score, store and record ``data`` for ``team`` (or the reference row of that
    name); 409 for a file it already sent, 400 for an invalid one, 429 over the quota (a
    reference row has none)."""
    sha256 = storage.sha256_of(data)
    if isinstance(team, Team):
        with session_scope() as db:
            check_new_file(db, team, sha256)  # before scoring: a resent file costs nothing
    try:
        table, scored = grading.grade(data, name=name)
    except SubmissionError as err:
        abort(400, str(err))
    storage.store(current_app.config["UPLOAD_FOLDER"], data)
    submission, remaining = _add_row(
        team,
        scored=True,
        public_scores=grading.table_scores(table, "public"),
        filename=name,
        note=note,
        sha256=sha256,
        size_bytes=len(data),
        scores_sha256=sha256,  # a prediction file is its own scores
        **scored.columns(),
    )
    return Accepted(submission, remaining, scored)


def record_model(team: Team | str, data: bytes, *, name: str, note: str) -> Accepted:
    """Check, store and record the model file ``data`` for ``team`` (or the reference row of
    that name) as ``queued``, then queue its scoring; 409 for a file it already sent, 400 for
    a file that breaks the model contract, 429 over the quota."""
    sha256 = storage.sha256_of(data)
    if isinstance(team, Team):
        with session_scope() as db:
            check_new_file(db, team, sha256)
    check_model_upload(data, name=name)
    storage.store(current_app.config["UPLOAD_FOLDER"], data, storage.MODEL)
    submission, remaining = _add_row(
        team, scored=False, filename=name, note=note, sha256=sha256, size_bytes=len(data),
        kind="model", status="queued",
    )  # fmt: skip
    # After the commit: a worker that takes the task at once finds the row. A broker that is
    # down loses nothing: the row stays queued until `leaderboard requeue`.
    queue.enqueue_scoring(submission.id)
    return Accepted(submission, remaining, None)


def _add_row(
    team: Team | str, *, scored: bool, public_scores=None, **fields
) -> tuple[Submission, int | None]:
    """The submission row of an accepted file (``scored`` now, with its ``public_scores``, or
    queued) and the uploads the team has left today (None for a reference row), made under the
    write lock, where the Ladder judges a scored one against the team's best so far."""
    with session_scope(write=True) as db:
        if not isinstance(team, Team):
            team = _reference_row(db, team)
        check_new_file(db, team, fields["sha256"])  # again: the same file sent twice at once
        # Again, under the write lock: a parallel upload of the same team may have won, and the
        # reveal may have closed submissions since the first check.
        remaining = None if team.is_reference else check_quota(db, team)
        created_at = now()
        if scored:
            fields["scored_at"] = created_at
            fields["ladder_accepted"] = ladder.accepts(db, team.id, public_scores)
        submission = queries.add_submission(
            db,
            team,
            created_at=created_at,
            is_late=not team.is_reference and is_late(db, created_at),
            **fields,
        )
    return submission, None if remaining is None else remaining - 1


HOW_TO_MAKE_A_MODEL = (
    "export your trained model with `baselines export CHECKPOINT -o model.onnx` (or "
    "torch.onnx.export), check it with `challenge check-model model.onnx --data DIR`, and "
    "upload model.onnx"
)


def check_model_upload(data: bytes, *, name: str) -> None:
    """400 with the reason when ``data`` is not a model this challenge can run: a prediction
    file, or a file that breaks the contract of ``challenge.model`` (checked without running)."""
    if _looks_like_predictions(data, name):
        abort(400, f"{name}: this challenge takes ONNX models, not prediction files: "
                   f"{HOW_TO_MAKE_A_MODEL}")  # fmt: skip
    limits = ModelLimits(max_bytes=current_app.config["MODEL_MAX_BYTES"])
    # A private folder of its own: the file is read by name, and nobody else may swap it.
    with tempfile.TemporaryDirectory(prefix="leaderboard-upload-") as folder:
        path = Path(folder, "model.onnx")
        path.write_bytes(data)
        try:
            check_model_file(path, record_length=grading.record_length(), limits=limits, name=name)
        except ModelError as err:  # named by the file, as the validator's messages are
            message = str(err)
            abort(400, message if message.startswith(f"{name}: ") else f"{name}: {message}")


def _looks_like_predictions(data: bytes, name: str) -> bool:
    """A CSV (plain or gzip) named so, or text that starts with the submission header."""
    start = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return name.lower().endswith((".csv", ".csv.gz")) or start.startswith(b"event_id")
