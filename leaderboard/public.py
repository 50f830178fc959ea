"""Pages anyone may see: the leaderboard, team pages, their figures, and the challenge pages
(overview, data with the public files, evaluation, rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, send_from_directory
from markupsafe import Markup
from sqlalchemy.orm import Session

from leaderboard import actions, auth, content, grading, ladder, queries, ranking
from leaderboard.db import session_scope
from leaderboard.forms import settings_and_clock
from leaderboard.models import PENDING, SCORED, Submission, Team

bp = Blueprint("public", __name__)


def png(data: bytes) -> Response:
    return Response(data, mimetype="image/png", headers={"Cache-Control": "no-cache"})


@bp.get("/")
def index():
    with session_scope(current_app) as db:
        board = ranking.current_board(db, current_app)
    config = current_app.config
    return render_template(
        "leaderboard.html",
        board=board,
        rows_html=board_rows_html(board, auth.session_team()),
        quota=config["DAILY_QUOTA"],
        open_at=config["OPEN_AT"],
        close_at=config["CLOSE_AT"],
        max_finals=config["MAX_FINALS"],
        roc_caption=ranking.roc_caption(board, config["ROC_TOP_TEAMS"]) if board.revealed else "",
        withheld=ladder.NOT_AN_IMPROVEMENT,
    )


def board_rows_html(board: ranking.Board, viewer) -> Markup:
    """The board's table rows: rendered in one template loop once per board for every viewer,
    then, for a team on the board, its own row rendered again, highlighted, in its place."""
    rows = ranking.derived(board, "rows_html", lambda b: _rows_html(b, b.rows, None), current_app)
    mine = next((r for r in board.rows if viewer is not None and r.team_id == viewer.id), None)
    if mine is None:
        return rows
    # A row's HTML names its team (unique), so it is found once, where the loop wrote it.
    return rows.replace(_rows_html(board, [mine], None), _rows_html(board, [mine], mine.team_id), 1)


def _rows_html(board: ranking.Board, rows: list[ranking.Row], viewer_team_id: int | None) -> Markup:
    # The template escaped every value already: the result is markup.
    html = render_template(
        "_board_rows.html", board=board, rows=rows, viewer_team_id=viewer_team_id
    )
    return Markup(html)  # noqa: S704


@bp.get("/teams/<int:team_id>")
def team_page(team_id: int):
    """A team's history: everyone sees times and public scores; the team also its notes, files and
    finals (everyone sees the finals once the final ranking is revealed)."""
    with session_scope(current_app) as db:
        history = team_history(db, team_id)
        remaining = (
            actions.remaining_today(db, team_id, **settings_and_clock()) if history.own else None
        )
    if history.own:
        auth.mark_private()  # the team's notes, file names and finals
    return render_template(
        "team.html",
        team=history.team,
        submissions=history.submissions,
        own=history.own,
        revealed=history.revealed,
        show_finals=history.show_finals,
        counted_id=history.counted_id,
        public={s.id: history.public(s) for s in history.scored},
        remaining=remaining,
        max_finals=current_app.config["MAX_FINALS"],
        refresh_s=TEAM_PAGE_REFRESH_S if history.scoring else None,
        # Prediction files are scored as they arrive: their status says nothing until models.
        show_status=current_app.config["SUBMISSIONS"] == "models" or history.has_models,
    )


# While a submission of the team is queued or running, its page reloads itself this often (a
# <meta> refresh: the Content-Security-Policy forbids inline script), so the score shows up.
TEAM_PAGE_REFRESH_S = 5


@dataclass(frozen=True)
class TeamHistory:
    team: Team
    submissions: list[Submission]
    own: bool  # the viewer is this team
    revealed: bool
    counted_id: int | None  # the submission whose score the board shows for the team

    @property
    def scored(self) -> list[Submission]:
        """The submissions with scores, the ones the score history draws."""
        return [s for s in self.submissions if s.status == SCORED]

    def public(self, submission: Submission) -> ladder.PublicScore:
        """What may be read of a submission's public score (``ladder.public_score``)."""
        return ladder.public_score(submission, revealed=self.revealed, app=current_app)

    @property
    def shown(self) -> list[Submission]:
        """The scored submissions whose public score may be read: the score history draws
        these (on a Ladder before the reveal, those the Ladder accepted)."""
        return [s for s in self.scored if self.public(s).value is not None]

    @property
    def has_models(self) -> bool:
        return any(s.kind == "model" for s in self.submissions)

    @property
    def scoring(self) -> bool:
        """A submission is queued or running: its score is still to come."""
        return any(s.status in PENDING for s in self.submissions)

    @property
    def show_finals(self) -> bool:
        """Which submissions a team marked final is its own business until the reveal."""
        return self.own or self.revealed


def team_history(db: Session, team_id: int) -> TeamHistory:
    """A team's submissions and marks, as the viewer may see them; 404 for no such team."""
    team = queries.get_team(db, team_id)
    if team is None:
        abort(404, f"no team with id {team_id}")
    viewer = auth.session_team()
    board = ranking.current_board(db, current_app)
    return TeamHistory(
        team=team,
        submissions=queries.team_submissions(db, team_id),
        own=viewer is not None and viewer.id == team.id,
        revealed=board.revealed,
        counted_id=next((r.submission_id for r in board.rows if r.team_id == team_id), None),
    )


@bp.get("/teams/<int:team_id>/scores.png")
def team_scores_png(team_id: int):
    with session_scope(current_app) as db:
        history = team_history(db, team_id)
    from leaderboard import plots  # matplotlib loads only when a figure is asked for

    submissions = history.shown
    ids = [s.id for s in submissions]
    public = [history.public(s) for s in submissions]
    response = png(
        plots.score_history_png(
            history.team.name,
            [s.created_at for s in submissions],
            [(p.value, p.lo, p.hi) for p in public],
            [s.private_auc for s in submissions] if history.revealed else None,
            grading.answer_key(current_app).metric,
            finals=[s.is_final for s in submissions] if history.show_finals else None,
            counted=ids.index(history.counted_id) if history.counted_id in ids else None,
            counted_label=COUNTED_LABEL[history.revealed],
            pending=sum(s.status in PENDING for s in history.submissions),
        )
    )
    if history.own:
        auth.mark_private()
    return response


COUNTED_LABEL = {False: "shown on the leaderboard", True: "counted in the final ranking"}


@bp.get("/roc.png")
def roc_png():
    with session_scope(current_app) as db:
        if not queries.is_revealed(db):
            abort(404, "the ROC curves are shown after the final ranking is revealed")
        roc = ranking.roc_curves(db, current_app.config["ROC_TOP_TEAMS"], current_app)
    from leaderboard import plots  # matplotlib loads only when a figure is asked for

    return png(plots.roc_curves_png(roc.labels, roc.curves, roc.metric, title=roc.title))


def challenge_context() -> dict:
    """What the challenge pages say, from the settings, the answer key and the reveal state."""
    config = current_app.config
    key = grading.answer_key(current_app)
    with session_scope(current_app) as db:
        closed_early = queries.closed_at(db)
        revealed_at = queries.revealed_at(db)
    close_at = min((t for t in (config["CLOSE_AT"], closed_early) if t), default=None)
    n_public = int((key.table["split"] == "public").sum())
    return {
        "metric": key.metric,
        "n_public": n_public,
        "n_private": len(key.table) - n_public,
        "open_at": config["OPEN_AT"],
        "close_at": close_at,
        "reveal_at": revealed_at or config["REVEAL_AT"],
        "revealed": revealed_at is not None,
        "quota": config["DAILY_QUOTA"],
        "max_finals": config["MAX_FINALS"],
        "late_submissions": config["LATE_SUBMISSIONS"],
        "max_team_size": config["MAX_TEAM_SIZE"],
        "registration": config["REGISTRATION"],
        "registration_open": config["REGISTRATION"] != "closed",
        "max_upload": content.file_size(config["MAX_UPLOAD_BYTES"]),
        "prize": config["PRIZE"],
        "simulated_training_data": content.simulated_training_data(),
        "simulated_training_data_rule": content.simulated_training_data_rule(),
        "top": config["ROC_TOP_TEAMS"],
        "ladder": ladder.is_ladder(current_app),
        "ladder_level": config["LADDER_LEVEL"],
        "public_resolution": ladder.resolution(current_app),
        "public_digits": ladder.public_digits(current_app),
        **content.submission_facts(),
    }


def content_page(page: str, **extra):
    context = {**challenge_context(), **extra}
    return render_template(
        f"{page}.html",
        page=page,
        title=content.PAGES[page],
        text=content.page_text(page, **context),
        **context,
    )


@bp.get("/overview")
def overview():
    return content_page("overview")


@bp.get("/data")
def data():
    return content_page(
        "data", downloads=content.downloads(), datacard=content.datacard(),
        file_size=content.file_size, roles=content.file_roles(),
    )  # fmt: skip


@bp.get("/evaluation")
def evaluation():
    return content_page("evaluation")


@bp.get("/rules")
def rules():
    return content_page("rules")


@bp.get("/data/files/<name>")
def data_file(name: str):
    """One public file, with HTTP range requests so that a large download can resume."""
    if name not in {f.name for f in content.downloads()}:
        abort(404, f"no public file called {name!r}; /data lists them")
    return send_from_directory(
        Path(current_app.config["PUBLIC_DATA"]), name, as_attachment=True, conditional=True
    )


@bp.app_context_processor
def navigation() -> dict:
    """What every page's navigation needs: the challenge pages and the viewer's role."""
    return {
        "nav_pages": [("public.index", "Leaderboard")]
        + [(f"public.{page}", title) for page, title in content.PAGES.items()],
        "is_organizer": auth.is_organizer_session(),
        "viewer_team_id": team.id if (team := auth.session_team()) else None,
    }


@bp.app_template_filter("public_score")
def public_score(value: float | None, revealed: bool = False) -> str:
    """A public number as a page shows it (``ladder.format_public``)."""
    return ladder.format_public(value, revealed=revealed, app=current_app)


@bp.app_template_filter("utc")
def utc(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""


@bp.get("/rank_stability.png")
def rank_stability_png():
    with session_scope(current_app) as db:
        if not queries.is_revealed(db):
            abort(404, "the rank-stability figure is shown after the final ranking is revealed")
        board = ranking.current_board(db, current_app)
    from leaderboard import plots  # matplotlib loads only when a figure is asked for

    ranked = [row for row in board.rows if row.rank is not None]
    ranked = ranked[: current_app.config["STABILITY_TOP_TEAMS"]]
    return png(
        plots.rank_stability_png(
            [row.team for row in ranked],
            [board.rank_counts[row.team_id] for row in ranked],
            [(row.rank_lo, row.rank_hi) for row in ranked],
        )
    )
