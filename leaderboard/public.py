"""Pages anyone may see: the leaderboard, team pages, and their figures."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template

from leaderboard import actions, auth, queries, ranking
from leaderboard.db import session_scope

bp = Blueprint("public", __name__)


def png(data: bytes) -> Response:
    return Response(data, mimetype="image/png", headers={"Cache-Control": "no-cache"})


@bp.get("/")
def index():
    with session_scope() as db:
        board = ranking.current_board(db)
    config = current_app.config
    return render_template(
        "leaderboard.html",
        board=board,
        quota=config["DAILY_QUOTA"],
        open_at=config["OPEN_AT"],
        close_at=config["CLOSE_AT"],
        max_finals=config["MAX_FINALS"],
        top=config["ROC_TOP_TEAMS"],
    )


@bp.get("/teams/<int:team_id>")
def team_page(team_id: int):
    """A team's history: everyone sees times and public scores; the team also its notes and files."""
    viewer = auth.session_team()
    with session_scope() as db:
        team = queries.get_team(db, team_id)
        if team is None:
            abort(404, f"no team with id {team_id}")
        submissions = queries.team_submissions(db, team_id)
        revealed = queries.is_revealed(db)
        remaining = None
        own = viewer is not None and viewer.id == team.id
        if own:
            auth.mark_private()  # the team's notes and file names
            remaining = actions.remaining_today(db, team.id)
    return render_template(
        "team.html",
        team=team,
        submissions=submissions,
        own=own,
        revealed=revealed,
        remaining=remaining,
        max_finals=current_app.config["MAX_FINALS"],
    )


@bp.get("/teams/<int:team_id>/scores.png")
def team_scores_png(team_id: int):
    with session_scope() as db:
        team = queries.get_team(db, team_id)
        if team is None:
            abort(404, f"no team with id {team_id}")
        submissions = queries.team_submissions(db, team_id)
        revealed = queries.is_revealed(db)
    from leaderboard import plots  # matplotlib loads only when a figure is asked for

    return png(
        plots.score_history_png(
            team.name,
            [s.created_at for s in submissions],
            [(s.public_auc, s.public_lo, s.public_hi) for s in submissions],
            [s.private_auc for s in submissions] if revealed else None,
        )
    )


@bp.get("/roc.png")
def roc_png():
    with session_scope() as db:
        if not queries.is_revealed(db):
            abort(404, "the ROC curves are shown after the final ranking is revealed")
        return png(ranking.roc_png(db, current_app.config["ROC_TOP_TEAMS"]))
