"""The organizers' pages: every submission with its private score, disqualification, the reveal,
and CSV exports. Reached with the organizer token (login form, or a bearer header for scripts)."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from leaderboard import actions, auth, export, final, grading, queries, ranking
from leaderboard.db import session_scope
from leaderboard.forms import errors_shown_on

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def require_organizer():
    if request.endpoint in ("admin.login", "admin.logout"):
        return None
    if not current_app.config.get("ADMIN_TOKEN"):
        abort(403, "no organizer token is configured (LEADERBOARD_ADMIN_TOKEN); use the CLI")
    if not auth.is_admin():
        return redirect(url_for("admin.login"))
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("admin_login.html")
    token = request.form.get("token", "").strip()
    try:
        if not token:
            abort(401, "enter the organizer token")
        auth.check_organizer_token(token)
    except HTTPException as error:
        headers = (
            {"Retry-After": str(error.retry_after)} if getattr(error, "retry_after", 0) else {}
        )
        return render_template("admin_login.html", error=error.description), error.code, headers
    auth.login_organizer()
    return redirect(url_for("admin.dashboard"))


@bp.post("/logout")
def logout():
    auth.logout()
    return redirect(url_for("public.index"))


@bp.get("/")
def dashboard():
    with session_scope() as db:
        revealed = queries.is_revealed(db)
        # What the reveal would show now, for the organizers' eyes only (never cached, never public).
        preview = None if revealed else ranking.final_board(db, now=actions.now())
        return render_template(
            "admin.html",
            preview=preview,
            metric=grading.answer_key().metric,
            submissions=queries.all_submissions(db),
            teams=queries.all_teams(db),
            revealed=queries.is_revealed(db),
            audit_log=queries.audit_log(db),
            shared_files=queries.files_of_several_teams(db),
            token_failures=queries.recent_token_failures(
                db, since=actions.now() - timedelta(hours=24)
            ),
        )


def _reason() -> str | None:
    """The reason from the form, or None to reinstate; 400 for an empty disqualification."""
    if request.form.get("action") == "reinstate":
        return None
    try:
        return queries.clean_reason(request.form.get("reason"))
    except ValueError as err:
        abort(400, str(err))


def _rerank_hint() -> str:
    with session_scope() as db:
        revealed = queries.is_revealed(db)
    if not revealed:
        return ""
    return (
        " The revealed final ranking is unchanged: `leaderboard rerank --reason ...` applies it"
        " and records why."
    )


@bp.post("/submissions/<int:submission_id>/disqualify")
@errors_shown_on(lambda: dashboard())
def disqualify_submission(submission_id: int):
    reason = _reason()
    with session_scope(write=True) as db:
        submission = queries.get_submission(db, submission_id)
        if submission is None:
            abort(404, f"no submission #{submission_id}")
        queries.disqualify(db, submission, reason)
    flash(
        f"Submission #{submission_id} {'disqualified' if reason else 'reinstated'}.{_rerank_hint()}"
    )
    return redirect(url_for("admin.dashboard")), 303


@bp.post("/teams/<int:team_id>/disqualify")
@errors_shown_on(lambda: dashboard())
def disqualify_team(team_id: int):
    reason = _reason()
    with session_scope(write=True) as db:
        team = queries.get_team(db, team_id)
        if team is None:
            abort(404, f"no team with id {team_id}")
        queries.disqualify(db, team, reason)
        name = team.name
    flash(f"Team {name} {'disqualified' if reason else 'reinstated'}.{_rerank_hint()}")
    return redirect(url_for("admin.dashboard")), 303


@bp.post("/reveal")
@errors_shown_on(lambda: dashboard())
def reveal():
    if request.form.get("confirm") != "reveal":
        abort(400, "type 'reveal' to confirm: the private scores cannot be hidden again")
    try:
        with session_scope(write=True) as db:
            message = final.reveal(db, current_app.config, now=actions.now())
    except final.RevealError as err:
        abort(409, str(err))
    flash(message[0].upper() + message[1:] + ".")
    return redirect(url_for("public.index")), 303


@bp.get("/export/<what>.csv")
def export_csv(what: str):
    if what not in export.EXPORTS:
        abort(404, f"no export called {what!r}; there are 'leaderboard' and 'submissions'")
    with session_scope() as db:
        text = export.csv_text(db, what)
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={what}.csv"},
    )
