"""The end of the challenge: the close, the reveal and its stored final ranking, re-ranking on an
organizer's command, and the audit log of these.

Submissions close at the configured close time or at the reveal, whichever comes first. The
reveal waits until every on-time model is scored or failed, then saves the final ranking with
every number it shows; pages and the API serve that record, so a later disqualification or
rescore changes it only through ``rerank``, which says why (and leaves out anything scored after
the reveal).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leaderboard import grading, queries, ranking
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


def reveal(session: Session, config: Mapping[str, Any], *, now: datetime) -> str:
    """Close submissions (now, unless they closed before), save the final ranking, show it.

    Returns what was done, for the organizer; RevealError when it is revealed already.
    """
    if queries.is_revealed(session):
        raise RevealError("the final ranking is revealed already; `leaderboard rerank` re-ranks")
    _check_all_scored(session)
    close = close_time(session, config)
    if close is None or close > now:
        queries.set_closed_at(session, now)
        closing = f"submissions closed now, at {utc(now)}" + (
            f" (the configured close time was {utc(close)})" if close else ""
        )
    else:
        closing = f"submissions closed at {utc(close)}"
    board = ranking.final_board(session, now=now)
    queries.save_final_ranking(session, ranking.board_to_json(board), now=now)
    queries.set_revealed(session, True, now=now)
    ranked = sum(not row.is_reference for row in board.rows)
    detail = f"{closing}; {ranked} teams ranked"
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


def undo_reveal(session: Session, config: Mapping[str, Any], *, now: datetime) -> str:
    """Hide the final ranking again, for a rehearsal, and take back the close that the reveal made:
    submissions reopen unless the configured close time has passed. The stored ranking stays in
    the database (the next reveal saves a new one) and the audit log keeps both entries."""
    if not queries.is_revealed(session):
        raise RevealError("the final ranking is not revealed; there is nothing to undo")
    reopened = queries.closed_at(session)
    queries.set_closed_at(session, None)
    queries.set_revealed(session, False, now=now)
    close = close_time(session, config)
    if close is None:
        state = "submissions are open again (no close time is configured)"
    elif close > now:
        state = f"submissions are open again until {utc(close)}"
    else:
        state = f"submissions stay closed since {utc(close)}"
    detail = f"private scores hidden again; {state}" + (
        f" (the reveal had closed them at {utc(reopened)})" if reopened else ""
    )
    queries.add_audit_entry(session, "undo reveal", now=now, detail=detail)
    return detail


def rerank(session: Session, *, now: datetime, reason: str) -> str:
    """Rank again from the stored submissions (after a disqualification or a rescore), save the new
    final ranking and log why. Late uploads stay out of it."""
    if not queries.is_revealed(session):
        raise RevealError(
            "the final ranking is not revealed yet; the live board needs no re-ranking"
        )
    if not reason.strip():
        raise RevealError("give a reason: it goes into the audit log that /admin shows")
    before = ranking.board_from_json(queries.latest_final_ranking(session).body)
    after = ranking.final_board(session, now=now)
    queries.save_final_ranking(session, ranking.board_to_json(after), now=now)
    detail = changes(before, after)
    queries.add_audit_entry(session, "rerank", now=now, reason=reason.strip(), detail=detail)
    return f"final ranking re-ranked: {detail}"


def changes(before: ranking.Board, after: ranking.Board) -> str:
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
            metric = grading.answer_key().metric
            moves.append(
                f"{b.team}: rank {a.rank} -> {b.rank}, private {metric.short_label} "
                f"{metric.format(a.private_auc)} -> {metric.format(b.private_auc)}"
            )
    return "; ".join(moves) if moves else "no rank or score changed"
