"""The end of the challenge: the close, the reveal and its stored final ranking, re-ranking on an
organizer's command, and the audit log of these.

Submissions close at the configured close time or at the reveal, whichever comes first. The
reveal waits until every on-time model is scored or failed, then saves the final ranking with
every number it shows. The first reveal freezes the finals for good: undoing it hides the
private numbers again but neither thaws the finals nor reopens submissions (unless the organizer
sets a new close time), and from then on every change is written to the audit log (``db``). pages and the API serve that record, so a later disqualification or
rescore changes it only through ``rerank``, which says why (and leaves out anything scored after
the reveal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from challenge.metrics import ScoreType
from leaderboard import grading, queries, ranking
from leaderboard.db import audits_itself, board_version, session_scope
from leaderboard.errors import Conflict
from leaderboard.models import PENDING


class RevealError(Conflict):
    """The reveal, its undoing or a re-ranking cannot be done now; the message says why."""


def close_time(session: Session, config: Mapping[str, Any]) -> datetime | None:
    """When submissions close: the configured close time or the reveal, whichever comes first."""
    times = [t for t in (config["CLOSE_AT"], queries.closed_at(session)) if t is not None]
    return min(times) if times else None


def utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def reveal(app: Flask, *, now: datetime) -> str:
    """Close submissions (now, unless they closed before), save the final ranking, show it.

    The ranking (DeLong tests, the bootstrap) is computed outside the write lock, so uploads and
    workers are refused or wait only for the quick writes before and after it; if anything the
    board shows changed meanwhile (a disqualification, a rescore, a late upload), nothing is
    revealed and RevealError says to reveal again. Returns what was done, for the organizer;
    RevealError when it is revealed already.
    """
    with session_scope(app, write=True) as session:
        closing = _close_for_reveal(session, app.config, now=now)
    with session_scope(app) as session:
        version = board_version(session)
        board = ranking.final_board(session, now=now, app=app)
    with session_scope(app, write=True) as session:
        audits_itself(session)
        if queries.is_revealed(session):
            raise RevealError("the final ranking was revealed meanwhile, by another organizer")
        if board_version(session) != version:
            raise RevealError(
                f"{closing}, but the leaderboard changed while the final ranking was computed "
                "(a disqualification, a rescore or a late upload): nothing was revealed; "
                "reveal again"
            )
        return _save_reveal(session, board, closing, now=now, metric=grading.answer_key(app).metric)


def _close_for_reveal(session: Session, config: Mapping[str, Any], *, now: datetime) -> str:
    """The reveal's first step, under the write lock: its checks, the close and the frozen
    finals; what was done, in words."""
    if queries.is_revealed(session):
        raise RevealError("the final ranking is revealed already; `leaderboard rerank` re-ranks")
    audits_itself(session)
    _check_all_scored(session)
    close = close_time(session, config)
    if close is None or close > now:
        queries.set_closed_at(session, now)
        closing = f"submissions closed now, at {utc(now)}" + (
            f" (the configured close time was {utc(close)})" if close else ""
        )
    else:
        closing = f"submissions closed at {utc(close)}"
    frozen = queries.finals_frozen_at(session)
    if frozen is None:
        queries.freeze_finals(session, now=now)
        closing += "; finals frozen"
    return closing


def _save_reveal(
    session: Session, board: ranking.Board, closing: str, *, now: datetime, metric: ScoreType
) -> str:
    """The reveal's last step, under the write lock: the record, the setting, the audit entry."""
    ranked = sum(not row.is_reference for row in board.rows)
    detail = f"{closing}; {ranked} teams ranked"
    record = queries.latest_final_ranking(session)
    earlier = ranking.board_from_json(record.body) if record is not None else None
    if earlier is not None and replace(earlier, ranked_at=None) == replace(board, ranked_at=None):
        # Revealed again after an undo, and nothing in it changed: the same record, byte for byte.
        detail += f"; the final ranking of {utc(earlier.ranked_at)} again, unchanged"
    else:
        queries.save_final_ranking(session, ranking.board_to_json(board), now=now)
        if earlier is not None:
            detail += f"; changed since the ranking of {utc(earlier.ranked_at)}: "
            detail += changes(earlier, board, metric)
    queries.set_revealed(session, True, now=now)
    queries.add_audit_entry(session, "reveal", now=now, detail=detail)
    return f"final ranking revealed; {detail}"


# The most submission ids that a refused reveal names; it counts the rest.
SHOWN_IDS = 20


def _check_all_scored(session: Session) -> None:
    """RevealError while an on-time submission that could count is still queued or running: a
    model uploaded a second before the close must be scored before the ranking is final."""
    pending = queries.pending_on_time(session)
    if not pending:
        return
    ids = ", ".join(f"#{s.id}" for s in pending[:SHOWN_IDS])
    if len(pending) > SHOWN_IDS:
        ids += f" and {len(pending) - SHOWN_IDS} more"
    counts = ", ".join(
        f"{sum(s.status == status for s in pending)} {status}"
        for status in PENDING
        if any(s.status == status for s in pending)
    )
    many = len(pending) > 1
    raise RevealError(
        f"{len(pending)} submission{'s' if many else ''} made before the close "
        f"{'are' if many else 'is'} not scored yet ({counts}: {ids}); "
        "the final ranking must include them. Start workers (`leaderboard worker`) or wait for "
        "the running ones, and reveal once `leaderboard status` shows none queued or running "
        "(`leaderboard requeue` sends queued ones again if the queue lost them)"
    )


def undo_reveal(
    session: Session,
    config: Mapping[str, Any],
    *,
    now: datetime,
    reopen_until: datetime | None = None,
) -> str:
    """Hide the final ranking again (a rehearsal, or a model to take in): the board is the closed
    public one again. Submissions stay closed unless ``reopen_until`` sets a new close time, and
    the finals stay frozen: the private numbers have been seen. The stored ranking stays (a
    reveal with nothing changed shows it again) and the audit log keeps every entry."""
    if not queries.is_revealed(session):
        raise RevealError("the final ranking is not revealed; there is nothing to undo")
    audits_itself(session)
    if reopen_until is not None:
        if reopen_until <= now:
            raise RevealError(f"--reopen-until {utc(reopen_until)} is not in the future")
        configured = config["CLOSE_AT"]
        if configured is not None and configured <= reopen_until:
            raise RevealError(
                f"LEADERBOARD_CLOSE_AT ({utc(configured)}) closes submissions before "
                f"{utc(reopen_until)}: set it later, or leave it unset"
            )
        queries.set_closed_at(session, reopen_until)
    queries.set_revealed(session, False, now=now)
    close = close_time(session, config)
    if close is not None and close > now:
        state = f"submissions reopen until {utc(close)}"
    else:
        state = f"submissions stay closed since {utc(close)}" if close else "submissions closed"
    frozen = queries.finals_frozen_at(session)
    detail = f"private scores hidden again; {state}; finals stay frozen since {utc(frozen)}"
    queries.add_audit_entry(session, "undo reveal", now=now, detail=detail)
    return detail


def rerank(session: Session, *, now: datetime, reason: str, app: Flask) -> str:
    """Rank again from the stored submissions (after a disqualification or a rescore), save the new
    final ranking and log why. Late uploads stay out of it."""
    if not queries.is_revealed(session):
        raise RevealError(
            "the final ranking is not revealed yet; the live board needs no re-ranking"
        )
    if not reason.strip():
        raise RevealError("give a reason: it goes into the audit log that /admin shows")
    audits_itself(session)
    before = ranking.board_from_json(queries.latest_final_ranking(session).body)
    after = ranking.final_board(session, now=now, app=app)
    queries.save_final_ranking(session, ranking.board_to_json(after), now=now)
    detail = changes(before, after, grading.answer_key(app).metric)
    queries.add_audit_entry(session, "rerank", now=now, reason=reason.strip(), detail=detail)
    return f"final ranking re-ranked: {detail}"


def changes(before: ranking.Board, after: ranking.Board, metric: ScoreType) -> str:
    """The rank changes between two final rankings, in words."""
    old = {row.team_id: row for row in before.rows}
    new = {row.team_id: row for row in after.rows}
    moves = []
    for team_id in sorted(old.keys() | new.keys(), key=lambda i: (new.get(i) or old[i]).team):
        a, b = old.get(team_id), new.get(team_id)
        if a is None:
            moves.append(f"{b.team}: added at rank {b.rank}")
        elif b is None:
            moves.append(f"{a.team}: removed (was rank {a.rank})")
        elif (a.rank, a.submission_id, a.private_auc) != (b.rank, b.submission_id, b.private_auc):
            moves.append(
                f"{b.team}: rank {a.rank} -> {b.rank}, private {metric.short_label} "
                f"{metric.format(a.private_auc)} -> {metric.format(b.private_auc)}"
            )
    return "; ".join(moves) if moves else "no rank or score changed"
