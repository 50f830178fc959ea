"""Receiving a submission, the same way for the web form, the API and ``leaderboard
add-reference``: window, quota, size, a file already sent, validation, storage, and the
database row, in that order (reference rows skip the window and the quota)."""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from flask import abort, current_app
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from challenge.submission import SubmissionError, format_size
from leaderboard import final, grading, queries, storage
from leaderboard.actions import now, remaining_today
from leaderboard.db import session_scope
from leaderboard.models import Submission, Team

REFERENCE_NAME_MAX_CHARS = 200  # a reference row names a method, which may take more words


@dataclass(frozen=True)
class Accepted:
    submission: Submission
    remaining_today: int | None  # None for a reference row, which has no quota
    scored: grading.Scored


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
    return f"the upload is larger than the limit of {format_size(config['MAX_UPLOAD_BYTES'])}"


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
    if upload is None:
        abort(400, "no file: send the submission CSV in the multipart field 'file'")
    # Only the base name, for display; the file is stored under its hash, never under this name.
    name = os.path.basename((upload.filename or "").replace("\\", "/")) or "submission.csv"
    name = "".join(c for c in name if unicodedata.category(c) not in queries.REFUSED_CATEGORIES)
    return read_limited(upload.stream), name.strip()[:200] or "submission.csv"


def read_limited(stream: BinaryIO) -> bytes:
    """At most the upload limit from ``stream``; 413 when there is more."""
    limit = current_app.config["MAX_UPLOAD_BYTES"]
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
    return record(team, data, name=name, note=note)


def add_reference(name: str, stream: BinaryIO, *, filename: str) -> Accepted:
    """Score a file as reference row ``name`` (a baseline, shown but never ranked), made if new.

    The same path as a team's upload: size limit, a file already sent, validator, storage; the
    row is made with the submission, so a refused file leaves nothing behind.
    """
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
        _, scored = grading.grade(data, name=name)
    except SubmissionError as err:
        abort(400, str(err))
    storage.store(current_app.config["UPLOAD_FOLDER"], data)
    with session_scope(write=True) as db:
        if not isinstance(team, Team):
            team = _reference_row(db, team)
        check_new_file(db, team, sha256)  # again: the same file may have been sent twice at once
        # Again, under the write lock: a parallel upload of the same team may have won, and the
        # reveal may have closed submissions since the first check.
        remaining = None if team.is_reference else check_quota(db, team)
        created_at = now()
        submission = queries.add_submission(
            db,
            team,
            created_at=created_at,
            is_late=not team.is_reference and is_late(db, created_at),
            filename=name,
            note=note,
            sha256=sha256,
            size_bytes=len(data),
            scores_sha256=sha256,  # a prediction file is its own scores
            scored_at=created_at,
            **scored.columns(),
        )
    return Accepted(submission, None if remaining is None else remaining - 1, scored)
