"""The leaderboard itself: which submission counts for each team, ranks, and the reveal's extras.

Before the reveal a team is ranked by its best public AUC: on a Ladder board (the default,
``leaderboard.ladder``) the best of its submissions that the Ladder accepted, rounded to what
the public split resolves, and on a plain board the best of all. After it, by the best private
AUC among the submissions it marked final (at most two), or of its shown public one if it
marked none (the Kaggle rule); each rank then carries the paired DeLong test against the next team.
Reference rows are placed by score but never ranked; late uploads (after the close) are listed
apart and never ranked. Only scored submissions (``status == "scored"``) take part: a model
still queued, running or failed has no score, and its scores file (``scores_sha256``) is what
per-event scores are read from, never the uploaded file. The functions take anything with the columns of ``Team`` and
``Submission`` (ORM objects, or the plain rows of ``queries.ranking_teams``). Once revealed, the
board is the stored record that the reveal (or an organizer's re-ranking) saved: see ``final``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import datetime
from threading import Lock

import numpy as np
from flask import Flask
from sqlalchemy.orm import Session

from challenge.metrics import DEFAULT_SCORE_TYPE, ScoreType, score_type
from leaderboard import bootstrap, db, grading, ladder, queries
from leaderboard.models import SCORED, Submission, Team
from leaderboard.state import state_of


@dataclass(frozen=True)
class Row:
    """One line of a leaderboard, with every number it shows; private fields stay None until the
    reveal. The submission shown is the team's best public one before the reveal and the one that
    counted after it (its public AUC included)."""

    team_id: int
    team: str
    is_reference: bool
    entries: int  # scored submissions made before the close, disqualified ones included
    last_submission: datetime  # of the latest of those
    submission_id: int
    public_auc: float
    public_lo: float
    public_hi: float
    rank: int | None = None  # public rank before the reveal, final rank after it
    rank_lo: int | None = None  # the 95% bootstrap interval of the rank (see ``bootstrap``)
    rank_hi: int | None = None
    public_rank: int | None = None
    private_auc: float | None = None
    private_lo: float | None = None
    private_hi: float | None = None
    rank_change: int | None = None  # positive: moved up from the public ranking
    p_value_vs_next: float | None = None


@dataclass(frozen=True)
class Late:
    """A scored upload after the close (``LEADERBOARD_LATE_SUBMISSIONS=1``): listed, never
    ranked."""

    submission_id: int
    team_id: int
    team: str
    created_at: datetime
    public_auc: float | None  # None: withheld by the Ladder until the reveal
    public_lo: float | None
    public_hi: float | None
    private_auc: float
    private_lo: float
    private_hi: float


@dataclass(frozen=True)
class Board:
    """A whole leaderboard: the ranked rows, and the late uploads listed apart."""

    revealed: bool
    rows: list[Row]
    late: list[Late] = field(default_factory=list)
    ranked_at: datetime | None = None  # when the shown final ranking was computed
    resamples: int = 0  # bootstrap resamples behind the rank intervals
    # team id -> {rank: resamples in which the team had that rank}, for the blob plot
    rank_counts: dict[int, dict[int, int]] = field(default_factory=dict)

    @property
    def tied_first(self) -> list[str]:
        """The teams whose rank interval includes 1: the data cannot tell them apart for first."""
        return [row.team for row in self.rows if row.rank_lo == 1]


def _scored_on_time(team: Team) -> list[Submission]:
    """The team's submissions that have scores and came before the close."""
    return [s for s in team.submissions if s.status == SCORED and not s.is_late]


def _eligible(team: Team) -> list[Submission]:
    return [s for s in _scored_on_time(team) if s.disqualified_reason is None]


ROC_AUC = score_type(DEFAULT_SCORE_TYPE)


def _best(submissions: Sequence[Submission], field: str, metric: ScoreType) -> Submission:
    """Best ``field`` by the metric's direction; on a tie the earlier submission wins."""
    return min(submissions, key=lambda s: (metric.sort_key(getattr(s, field)), s.created_at, s.id))


def _shown(team: Team, metric: ScoreType, on_ladder: bool) -> Submission:
    """The submission whose public score the board shows for the team: its best public one, of
    those the Ladder accepted on a Ladder board (the first eligible one if a disqualification
    took them all)."""
    eligible = _eligible(team)
    if on_ladder:
        eligible = [s for s in eligible if s.ladder_accepted] or eligible[:1]
    return _best(eligible, "public_auc", metric)


def counted_submissions(
    team: Team, metric: ScoreType = ROC_AUC, *, on_ladder: bool = False
) -> list[Submission]:
    """The submissions that may count for the final ranking: the finals, else the one whose
    public score the board showed."""
    eligible = _eligible(team)
    if not eligible:
        return []
    finals = [s for s in eligible if s.is_final]
    return finals or [_shown(team, metric, on_ladder)]


def _activity(team: Team) -> tuple[int, datetime]:
    """The count of the team's scored on-time submissions and the newest one's time: from SQL
    where the team carries them (``queries.ranking_teams``, which may hold only candidates)."""
    if getattr(team, "last_submission", None) is not None:
        return team.entries, team.last_submission
    on_time = _scored_on_time(team)
    return len(on_time), max(s.created_at for s in on_time)


def _row(team: Team, shown: Submission) -> Row:
    # Like the ranks, the count is of scored submissions: a queued model joins it once scored,
    # a failed one never does (the quota counts both: ``queries.submissions_today``).
    entries, last_submission = _activity(team)
    return Row(
        team_id=team.id,
        team=team.name,
        is_reference=team.is_reference,
        entries=entries,
        last_submission=last_submission,
        submission_id=shown.id,
        public_auc=shown.public_auc,
        public_lo=shown.public_lo,
        public_hi=shown.public_hi,
    )


def _ranked_teams(teams: Sequence[Team]) -> list[Team]:
    return [t for t in teams if t.disqualified_reason is None and _eligible(t)]


def public_rows(
    teams: Sequence[Team], metric: ScoreType = ROC_AUC, *, digits: int | None = None
) -> list[Row]:
    """Teams and references with an eligible submission, by shown public score; ranks for teams
    only. The ``*_auc`` fields hold the value of the challenge's metric. With ``digits`` (a
    Ladder board) the shown submission is the best the Ladder accepted, its numbers are rounded
    to ``digits`` and the ranks follow the rounded values (then the earlier submission)."""
    return _public(teams, metric, digits)[0]


def _public(
    teams: Sequence[Team], metric: ScoreType, digits: int | None = None
) -> tuple[list[Row], dict[int, Submission]]:
    best = {t.id: _shown(t, metric, digits is not None) for t in _ranked_teams(teams)}
    rows = [_row(t, best[t.id]) for t in _ranked_teams(teams)]
    if digits is not None:
        rows = [
            replace(r, **{f: round(getattr(r, f), digits) for f in ("public_auc", "public_lo",
                                                                   "public_hi")})
            for r in rows
        ]  # fmt: skip
    rows.sort(key=lambda r: (metric.sort_key(r.public_auc), best[r.team_id].created_at, r.team_id))
    return _number(rows, lambda row, rank: replace(row, rank=rank, public_rank=rank)), best


def private_rows(
    teams: Sequence[Team],
    private_scores: Callable[[Submission], np.ndarray],
    labels: np.ndarray,
    metric: ScoreType = ROC_AUC,
) -> list[Row]:
    """The final ranking, with rank changes and the metric's paired test against the next team."""
    return _private(teams, private_scores, labels, metric)[0]


def _private(
    teams: Sequence[Team],
    private_scores: Callable[[Submission], np.ndarray],
    labels: np.ndarray,
    metric: ScoreType,
    digits: int | None = None,
) -> tuple[list[Row], dict[int, Submission]]:
    public_rank = {
        row.team_id: row.public_rank for row in public_rows(teams, metric, digits=digits)
    }
    on_ladder = digits is not None
    counted = {
        t.id: _best(counted_submissions(t, metric, on_ladder=on_ladder), "private_auc", metric)
        for t in _ranked_teams(teams)
    }
    rows = [
        replace(
            _row(t, counted[t.id]),
            public_rank=public_rank[t.id],
            private_auc=counted[t.id].private_auc,
            private_lo=counted[t.id].private_lo,
            private_hi=counted[t.id].private_hi,
        )
        for t in _ranked_teams(teams)
    ]
    rows.sort(
        key=lambda r: (metric.sort_key(r.private_auc), counted[r.team_id].created_at, r.team_id)
    )
    rows = _number(
        rows, lambda row, rank: replace(row, rank=rank, rank_change=row.public_rank - rank)
    )
    ranked = [row for row in rows if not row.is_reference]
    p_values = {}
    for row, following in zip(ranked, ranked[1:], strict=False):
        first, second = counted[row.team_id], counted[following.team_id]
        _, p = metric.paired_test(labels, private_scores(first), private_scores(second))
        p_values[row.team_id] = float(p)
    return [replace(row, p_value_vs_next=p_values.get(row.team_id)) for row in rows], counted


def with_rank_intervals(
    board: Board,
    shown: dict[int, Submission],
    samples: Callable[[Submission], np.ndarray],
    metric: ScoreType,
) -> Board:
    """``board`` with each team's 95% rank interval, from the bootstrap scores of the submission
    it is ranked by (``samples``, (B,) each, on the same resamples for every team)."""
    ranked = [row for row in board.rows if not row.is_reference]
    if not ranked:
        return board
    matrix = np.stack([samples(shown[row.team_id]) for row in ranked])
    intervals = bootstrap.rank_intervals(matrix, higher_is_better=metric.higher_is_better)
    bounds = {
        row.team_id: (int(lo), int(hi))
        for row, lo, hi in zip(ranked, intervals.lo, intervals.hi, strict=True)
    }
    # The blob plot of the final page needs every team's rank counts; the live board does not,
    # and skipping them saves a fifth of its computing after each upload.
    counts = (
        {
            row.team_id: {int(r) + 1: int(c[r]) for r in np.flatnonzero(c)}
            for row, c in zip(ranked, intervals.rank_counts, strict=True)
        }
        if board.revealed
        else {}
    )
    rows = [
        replace(row, rank_lo=bounds[row.team_id][0], rank_hi=bounds[row.team_id][1])
        if row.team_id in bounds
        else row
        for row in board.rows
    ]
    return replace(board, rows=rows, resamples=matrix.shape[1], rank_counts=counts)


def _number(rows: list[Row], with_rank: Callable[[Row, int], Row]) -> list[Row]:
    numbered, rank = [], 0
    for row in rows:
        if row.is_reference:
            numbered.append(row)
        else:
            rank += 1
            numbered.append(with_rank(row, rank))
    return numbered


def late_rows(session: Session, app: Flask) -> list[Late]:
    """The late uploads, their public scores as ``ladder.public_score`` lets them be read."""
    revealed = queries.is_revealed(session)
    rows = []
    for s in queries.late_submissions(session):
        public = ladder.public_score(s, revealed=revealed, app=app)
        rows.append(Late(
            submission_id=s.id, team_id=s.team_id, team=s.team.name, created_at=s.created_at,
            public_auc=public.value, public_lo=public.lo, public_hi=public.hi,
            private_auc=s.private_auc, private_lo=s.private_lo, private_hi=s.private_hi,
        ))  # fmt: skip
    return rows


def final_board(session: Session, *, now: datetime, app: Flask) -> Board:
    """The final ranking computed now from the stored submissions (for the reveal and re-ranking),
    with rank intervals on the private split.

    Once revealed (a re-ranking), submissions scored after the reveal stay out: the ranking is of
    what was scored when it was revealed, whatever a worker records later.
    """
    key = grading.answer_key(app)
    teams = queries.ranking_teams(
        session, scored_by=queries.revealed_at(session), candidates_for=key.metric.higher_is_better
    )
    rows, counted = _private(
        teams, _private_scores(app), key.private_labels, key.metric, _ladder_digits(app)
    )
    board = Board(True, rows, ranked_at=now)
    return with_rank_intervals(board, counted, _samples("private", app), key.metric)


def public_board(session: Session, app: Flask) -> Board:
    """The live public ranking, with rank intervals on the public split."""
    metric = grading.answer_key(app).metric
    teams = queries.ranking_teams(session, candidates_for=metric.higher_is_better)
    rows, best = _public(teams, metric, _ladder_digits(app))
    return with_rank_intervals(Board(False, rows), best, _samples("public", app), metric)


def _ladder_digits(app: Flask) -> int | None:
    """The digits of a Ladder board's public numbers; None for a plain board."""
    return ladder.public_digits(app) if ladder.is_ladder(app) else None


def current_board(session: Session, app: Flask) -> Board:
    """The leaderboard as everybody sees it now: public before the reveal; after it, the stored
    final ranking. Computed once per change of the database, per process (``BoardCache``)."""
    return state_of(app).part(BoardCache).board(session)


def _compute_board(session: Session, app: Flask) -> Board:
    late = late_rows(session, app)
    if not queries.is_revealed(session):
        return replace(public_board(session, app), late=late)
    record = queries.latest_final_ranking(session)
    return replace(board_from_json(record.body), late=late)


class BoardCache:
    """The board of one server process, kept until the database's board version changes.

    Every transaction that changes what a board shows bumps ``BoardVersion`` (``db``), so one
    cheap query per request tells every process, each gunicorn worker included, whether its
    board is stale. A stale board is computed again by one thread of the process, in the
    background; a reader waits for it at most ``wait_s``, then gets the board from before the
    write, so that the uploads of a deadline hour do not hold every reader behind each new
    computation. A reader that finds no board at all waits for the first one.
    """

    def __init__(self, compute: Callable[[], tuple[int, Board]], wait_s: float) -> None:
        self._compute = compute  # (the board version, the board), in a session of its own
        self._wait_s = wait_s
        self._lock = Lock()  # guards the fields
        self._version: int | None = None
        self._board: Board | None = None
        self._derived: dict[str, object] = {}
        self._computing: Future | None = None  # one computation at a time
        self._submitted = 0  # computations asked for so far, numbered from 1
        self._finished = 0  # the number of the last one finished (they run in order)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="board")

    def board(self, session: Session) -> Board:
        """The board of the version that ``session`` reads, or one computed from a read of the
        database after it (newer, while uploads go on), or, once ``wait_s`` has passed while it
        is computed, the board before it."""
        version = db.board_version(session)
        deadline = time.monotonic() + self._wait_s
        with self._lock:
            after = self._submitted  # those numbered above read the database after this reader
        while True:
            with self._lock:
                # any change of version, a restored older database too
                if self._version == version or self._finished > after:
                    return self._board
                if self._computing is None or self._computing.done():
                    self._submitted += 1
                    self._computing = self._executor.submit(self._refresh, self._submitted)
                computing, previous = self._computing, self._board
            wait = None if previous is None else max(0.0, deadline - time.monotonic())
            try:  # a computation that fails raises here, in the reader
                computing.result(wait)
            except FutureTimeout:
                return previous
            # It may have started before the write this reader saw: look again.

    def _refresh(self, number: int) -> None:
        version, board = self._compute()  # one at a time: each reads the database after the last
        with self._lock:
            self._version, self._board, self._derived = version, board, {}
            self._finished = number

    def derived(self, board: Board, name: str, build: Callable[[Board], object]) -> object:
        """``build(board)``, made once per board (the API's JSON, for example)."""
        with self._lock:
            if self._board is board and name in self._derived:
                return self._derived[name]
        value = build(board)
        with self._lock:
            if self._board is board:
                self._derived[name] = value
        return value


def init_app(app: Flask) -> None:
    def compute() -> tuple[int, Board]:
        with db.session_scope(app) as session:
            # Read after the version: the board may be newer than the version, never older.
            return db.board_version(session), _compute_board(session, app)

    state_of(app).hold(BoardCache(compute, wait_s=float(app.config["BOARD_WAIT_S"])))


def derived(board: Board, name: str, build: Callable[[Board], object], app: Flask) -> object:
    """``build(board)`` once per board and process: what every request would compute alike."""
    return state_of(app).part(BoardCache).derived(board, name, build)


def board_to_json(board: Board) -> str:
    """The stored record of a final ranking: every number it shows (late uploads are not part
    of it), and the bootstrap's rank counts for the blob plot."""
    rows = [dataclasses.asdict(row) for row in board.rows]
    for row in rows:
        row["last_submission"] = row["last_submission"].isoformat()
    return json.dumps(
        {
            "ranked_at": board.ranked_at.isoformat(),
            "resamples": board.resamples,
            "rows": rows,
            "rank_counts": {str(team): counts for team, counts in board.rank_counts.items()},
        }
    )


def board_from_json(body: str) -> Board:
    record = json.loads(body)
    rows = [
        Row(**{**row, "last_submission": datetime.fromisoformat(row["last_submission"])})
        for row in record["rows"]
    ]
    counts = {
        int(team): {int(rank): n for rank, n in per_rank.items()}
        for team, per_rank in record["rank_counts"].items()
    }
    return Board(
        True,
        rows,
        ranked_at=datetime.fromisoformat(record["ranked_at"]),
        resamples=record["resamples"],
        rank_counts=counts,
    )


def _samples(split: str, app: Flask) -> Callable[[Submission], np.ndarray]:
    return lambda s: grading.metric_samples(s.scores_sha256, s.filename, split, app)


def _private_scores(app: Flask) -> Callable[[Submission], np.ndarray]:
    """The per-event scores behind a scored submission: its scores file, not its upload."""
    return lambda s: grading.private_scores(s.scores_sha256, s.filename, app)


def roc_rows(board: Board, top: int) -> list[Row]:
    """The rows whose ROC curves are drawn: the ``top`` ranked teams and the references."""
    return [row for row in board.rows if row.is_reference or (row.rank or 0) <= top]


def roc_caption(board: Board, top: int) -> str:
    """What the ROC figure draws, in words: its title and the heading above it on the board."""
    shown = roc_rows(board, top)
    n_references = sum(row.is_reference for row in shown)
    n_teams = len(shown) - n_references
    what = "the top team" if n_teams == 1 else f"the top {n_teams} teams"
    if n_references:
        what += f" and {n_references} reference row" + ("s" if n_references > 1 else "")
    return f"ROC curves of {what}, private split"


@dataclass(frozen=True)
class RocCurves:
    """What the ROC figure draws: the private labels and, per shown row, (label, scores, value)."""

    labels: np.ndarray
    curves: list[tuple[str, np.ndarray, float]]
    metric: ScoreType
    title: str


def roc_curves(session: Session, top: int, app: Flask) -> RocCurves:
    """The ROC curves of the ``top`` ranked teams (and the references) on the private split;
    ``plots.roc_curves_png`` draws them."""
    board = current_board(session, app)
    shown = roc_rows(board, top)
    files = {s.id: s for s in queries.submissions_by_id(session, [r.submission_id for r in shown])}
    curves = [
        (
            f"#{row.rank} {row.team}" if row.rank else f"{row.team} (reference)",
            _private_scores(app)(files[row.submission_id]),
            row.private_auc,
        )
        for row in shown
    ]
    key = grading.answer_key(app)
    return RocCurves(key.private_labels, curves, key.metric, roc_caption(board, top))
