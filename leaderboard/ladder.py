"""The public board as a Ladder, and the rounding of every public number before the reveal.

The Ladder is Blum & Hardt's parameter-free variant (ICML 2015, "The Ladder: A Reliable
Leaderboard for Machine Learning Competitions"): a team's shown public score changes only when
a new submission beats the team's best so far by a one-sided paired test (DeLong's for the ROC
AUC) at ``LADDER_LEVEL``; otherwise the team learns only that it was not a significant
improvement, and no figure, since each would carry what the Ladder hides. With
``LEADERBOARD_PUBLIC_BOARD=plain`` every submission's public score is shown, unrounded, as
before. Until the reveal, the shown numbers are rounded to the digits that the public split
resolves (``challenge.planning``'s figure), so that no upload reads single events' labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.metrics import ScoreType
from challenge.planning import DEFAULT_AUC, resolvable_difference
from leaderboard import grading
from leaderboard.config import challenge_facts
from leaderboard.models import SCORED, Submission
from leaderboard.state import state_of

NOT_AN_IMPROVEMENT = "not a significant improvement over your best"


def is_ladder(app: Flask) -> bool:
    return app.config["PUBLIC_BOARD"] == "ladder"


def is_improvement(
    labels: np.ndarray, new: np.ndarray, best: np.ndarray, metric: ScoreType, *, level: float
) -> bool:
    """Whether scores ``new`` (n,) beat ``best`` (n,) on events ``labels`` (n,) by the metric's
    one-sided paired test at ``level``: its p-value, the probability of a difference at least
    this far in the metric's better direction were the two alike, is below ``level``."""
    z, p = metric.paired_test(labels, new, best)
    better = z > 0 if metric.higher_is_better else z < 0
    one_sided = p / 2 if better else 1 - p / 2
    return bool(one_sided < level)


def _ladder_best(db: Session, team_id: int, metric: ScoreType) -> Submission | None:
    """The team's best so far: its best-scoring accepted submission that is not disqualified
    (each accepted one beat the one before, so it is also the latest)."""
    accepted = db.scalars(
        select(Submission).where(
            Submission.team_id == team_id,
            Submission.status == SCORED,
            Submission.ladder_accepted.is_(True),
            Submission.disqualified_reason.is_(None),
        )
    ).all()
    if not accepted:
        return None
    return min(accepted, key=lambda s: (metric.sort_key(s.public_auc), s.id))


def accepts(db: Session, team_id: int, public_scores: np.ndarray, app: Flask) -> bool:
    """Whether a new scored submission of the team, with ``public_scores`` (in the order of
    ``AnswerKey.ids["public"]``), climbs the Ladder. Called under the write lock, so that two
    submissions of a team are judged one after the other."""
    key = grading.answer_key(app)
    best = _ladder_best(db, team_id, key.metric)
    if best is None:
        return True
    best_scores = grading.split_scores(best.scores_sha256, best.filename, "public", app)
    return is_improvement(
        key.labels["public"], public_scores, best_scores, key.metric,
        level=app.config["LADDER_LEVEL"],
    )  # fmt: skip


def resolution(app: Flask) -> float:
    """The smallest metric difference the public split resolves: ``challenge.planning``'s figure
    for its class counts, at the reference AUC of ``challenge.json`` (DEFAULT_AUC without one)."""
    held = state_of(app).find(PublicResolution)
    if held is None:
        labels = grading.answer_key(app).labels["public"]
        facts = challenge_facts(app.config).get("resolution", {})
        auc = facts.get("reference_auc", DEFAULT_AUC) if isinstance(facts, dict) else DEFAULT_AUC
        # challenge.json rounds to 4 decimals: a reference AUC above 0.99995 reads 1.0, which
        # planning refuses (it needs AUC < 1), as the packager does before rounding.
        auc = min(max(0.5, float(auc)), float(np.nextafter(1.0, 0.0)))
        n_pos = int(np.sum(labels == 1))
        difference = resolvable_difference(float(auc), n_pos, len(labels) - n_pos)
        held = state_of(app).hold(PublicResolution(difference))
    return held.difference


@dataclass(frozen=True)
class PublicResolution:
    """The smallest metric difference the public split resolves, computed once per app."""

    difference: float


def public_digits(app: Flask) -> int:
    """The decimals that the public split resolves: the power of ten nearest its resolvable
    difference (0.0125 gives 2), at least one."""
    return max(1, round(-math.log10(resolution(app))))


@dataclass(frozen=True)
class PublicScore:
    """A submission's public score as its team may read it: the value and its interval, or
    None with ``withheld`` saying why."""

    value: float | None
    lo: float | None
    hi: float | None
    withheld: str | None = None


def public_score(submission, *, revealed: bool, app: Flask) -> PublicScore:
    """What may be shown of ``submission``'s public score (a ``Submission``, a board ``Row`` or
    ``Late``, anything with ``public_auc``, ``public_lo``, ``public_hi``): all of it after the
    reveal or on a plain board; before the reveal on a Ladder, only an accepted submission's,
    rounded to ``public_digits``."""
    values = (submission.public_auc, submission.public_lo, submission.public_hi)
    if revealed or not is_ladder(app) or submission.public_auc is None:
        return PublicScore(*values)
    if getattr(submission, "ladder_accepted", True) is False:
        return PublicScore(None, None, None, NOT_AN_IMPROVEMENT)
    return PublicScore(*rounded(values, app))


def rounded(values: Sequence[float | None], app: Flask) -> list[float | None]:
    digits = public_digits(app)
    return [None if v is None else round(float(v), digits) for v in values]


def format_public(value: float | None, *, revealed: bool, app: Flask) -> str:
    """A public number as pages show it: to ``public_digits`` before the reveal on a Ladder,
    else to the metric's own precision; "–" for none."""
    if value is None:
        return "–"
    if is_ladder(app) and not revealed:
        return f"{value:.{public_digits(app)}f}"
    return grading.answer_key(app).metric.format(value)


def public_text(submission, *, revealed: bool, app: Flask) -> str:
    """A submission's public score in words, as its team may read it (the upload's message)."""
    metric = grading.answer_key(app).metric
    public = public_score(submission, revealed=revealed, app=app)
    if public.value is None:
        return f"public {metric.short_label}: {public.withheld or 'none yet'}"
    value, lo, hi = (format_public(v, revealed=revealed, app=app) for v in
                     (public.value, public.lo, public.hi))  # fmt: skip
    return f"public {metric.short_label} {value} (95% CI {lo} to {hi})"
