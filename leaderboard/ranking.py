"""The leaderboard itself: which submission counts for each team, ranks, and the reveal's extras.

Before the reveal a team is ranked by its best public AUC. After it, by the best private AUC
among the submissions it marked final (at most two), or of its best public one if it marked
none (the Kaggle rule); each rank then carries the paired DeLong test against the next team.
Reference rows are placed by score but never ranked. The functions take anything with the
columns of ``Team`` and ``Submission`` (ORM objects, or the plain rows of ``ranking_teams``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from challenge.metrics import delong_test
from leaderboard import grading, queries
from leaderboard.models import Submission, Team


@dataclass(frozen=True)
class Row:
    """One line of the leaderboard; the private fields stay None until the reveal."""

    team_id: int
    team: str
    is_reference: bool
    entries: int
    last_submission: datetime
    best_public: Submission
    rank: int | None = None  # public rank before the reveal, final rank after it
    public_rank: int | None = None
    counted: Submission | None = None  # the submission whose private AUC counts
    rank_change: int | None = None  # positive: moved up from the public ranking
    p_value_vs_next: float | None = None


def _best(submissions: Sequence[Submission], field: str) -> Submission:
    """Highest ``field``; on a tie the earlier submission wins."""
    return min(submissions, key=lambda s: (-getattr(s, field), s.created_at, s.id))


def counted_submissions(team: Team) -> list[Submission]:
    """The submissions that may count for the final ranking: the finals, else the best public one."""
    eligible = [s for s in team.submissions if s.disqualified_reason is None]
    if not eligible:
        return []
    finals = [s for s in eligible if s.is_final]
    return finals or [_best(eligible, "public_auc")]


def public_rows(teams: Sequence[Team]) -> list[Row]:
    """Teams and references with an eligible submission, by best public AUC; ranks for teams only."""
    rows = []
    for team in teams:
        eligible = [s for s in team.submissions if s.disqualified_reason is None]
        if team.disqualified_reason is not None or not eligible:
            continue
        rows.append(
            Row(
                team_id=team.id,
                team=team.name,
                is_reference=team.is_reference,
                entries=len(team.submissions),
                last_submission=max(s.created_at for s in team.submissions),
                best_public=_best(eligible, "public_auc"),
            )
        )
    rows.sort(key=lambda r: (-r.best_public.public_auc, r.best_public.created_at, r.team_id))
    return _number(rows, lambda row, rank: replace(row, rank=rank, public_rank=rank))


def private_rows(
    teams: Sequence[Team], private_scores: Callable[[Submission], np.ndarray], labels: np.ndarray
) -> list[Row]:
    """The final ranking after the reveal, with rank changes and DeLong p-values against the next."""
    by_team = {team.id: team for team in teams}
    rows = []
    for row in public_rows(teams):
        counted = _best(counted_submissions(by_team[row.team_id]), "private_auc")
        rows.append(replace(row, counted=counted))
    rows.sort(key=lambda r: (-r.counted.private_auc, r.counted.created_at, r.team_id))
    rows = _number(
        rows,
        lambda row, rank: replace(row, rank=rank, rank_change=row.public_rank - rank),
    )
    ranked = [row for row in rows if not row.is_reference]
    p_values = {}
    for row, following in zip(ranked, ranked[1:], strict=False):
        _, p = delong_test(labels, private_scores(row.counted), private_scores(following.counted))
        p_values[row.team_id] = float(p)
    return [replace(row, p_value_vs_next=p_values.get(row.team_id)) for row in rows]


def _number(rows: list[Row], with_rank: Callable[[Row, int], Row]) -> list[Row]:
    numbered, rank = [], 0
    for row in rows:
        if row.is_reference:
            numbered.append(row)
        else:
            rank += 1
            numbered.append(with_rank(row, rank))
    return numbered


@dataclass(frozen=True)
class Board:
    revealed: bool
    rows: list[Row]


def current_board(session: Session) -> Board:
    """The leaderboard as everybody sees it now: public before the reveal, final after it."""
    teams = queries.ranking_teams(session)
    if not queries.is_revealed(session):
        return Board(False, public_rows(teams))
    key = grading.answer_key()
    rows = private_rows(teams, _private_scores, key.private_labels)
    return Board(True, rows)


def _private_scores(submission: Submission) -> np.ndarray:
    return grading.private_scores(submission.sha256, submission.filename)


def roc_png(session: Session, top: int) -> bytes:
    """ROC curves of the ``top`` ranked teams (and the references) on the private split."""
    from leaderboard import plots  # matplotlib loads only when a figure is asked for

    board = current_board(session)
    shown = [row for row in board.rows if row.is_reference or (row.rank or 0) <= top]
    curves = [
        (
            f"#{row.rank} {row.team}" if row.rank else f"{row.team} (reference)",
            _private_scores(row.counted),
            row.counted.private_auc,
        )
        for row in shown
    ]
    return plots.roc_curves_png(grading.answer_key().private_labels, curves)
