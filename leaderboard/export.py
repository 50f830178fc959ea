"""CSV exports of the leaderboard and of every submission, safe to open in a spreadsheet.

A text cell that starts with ``= + - @``, a tab or a carriage return would be read as a formula
by Excel or LibreOffice (CSV injection), so it gets a leading apostrophe. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

from leaderboard import queries, ranking
from leaderboard.models import Submission
from leaderboard.ranking import Board

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """``value`` unchanged unless it is text a spreadsheet would run as a formula."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else spreadsheet_safe(v) for v in row])
    return buffer.getvalue()


def leaderboard_csv(board: Board) -> str:
    """The leaderboard as shown; private columns are filled only after the reveal."""
    header = ["rank", "rank_lo", "rank_hi", "team", "reference", "public_rank", "public_auc",
              "public_lo", "public_hi",
              "private_auc", "private_lo", "private_hi", "rank_change", "p_value_vs_next",
              "entries", "last_submission"]  # fmt: skip
    rows = []
    for row in board.rows:
        rows.append([
            row.rank, row.rank_lo, row.rank_hi, row.team, int(row.is_reference), row.public_rank,
            row.public_auc, row.public_lo, row.public_hi,
            row.private_auc, row.private_lo, row.private_hi,
            row.rank_change, row.p_value_vs_next, row.entries, row.last_submission,
        ])  # fmt: skip
    return to_csv(header, rows)


def submissions_csv(submissions: Iterable[Submission]) -> str:
    """Every submission with its status and both scores: for organizers only. A submission not
    scored (queued, running, failed) has empty score cells, and a failed one its reason."""
    header = ["id", "team", "reference", "created_at", "filename", "note", "sha256", "size_bytes",
              "kind", "status", "failure_reason", "scored_at", "scores_sha256",
              "n_rows", "public_auc", "public_lo", "public_hi", "private_auc", "private_lo",
              "private_hi", "final", "disqualified_reason", "team_disqualified_reason"]  # fmt: skip
    rows = (
        [
            s.id,
            s.team.name,
            int(s.team.is_reference),
            s.created_at,
            s.filename,
            s.note,
            s.sha256,
            s.size_bytes,
            s.kind,
            s.status,
            s.failure_reason,
            s.scored_at,
            s.scores_sha256,
            s.n_rows,
            s.public_auc,
            s.public_lo,
            s.public_hi,
            s.private_auc,
            s.private_lo,
            s.private_hi,
            int(s.is_final),
            s.disqualified_reason,
            s.team.disqualified_reason,
        ]  # fmt: skip
        for s in submissions
    )
    return to_csv(header, rows)


# What /admin and `leaderboard export` offer, by name: the one place that maps a name to a CSV.
EXPORTS = {
    "leaderboard": lambda session, app: leaderboard_csv(ranking.current_board(session, app)),
    "submissions": lambda session, app: submissions_csv(queries.all_submissions(session)),
}


def csv_text(session: Session, what: str, app: Flask) -> str:
    """The export ``what`` (a key of ``EXPORTS``) as CSV text."""
    return EXPORTS[what](session, app)
