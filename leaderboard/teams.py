"""What a team does in the browser: register, log in with its token, upload, pick its finals."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from leaderboard import auth, queries, uploads
from leaderboard.db import session_scope

bp = Blueprint("teams", __name__)


def register_team(name: str) -> tuple[str, str]:
    """Create a team from a request; 403 when registration is closed, 409 taken, 400 bad name."""
    if not current_app.config["REGISTRATION_OPEN"]:
        abort(403, "registration is closed; ask the organizers to add your team")
    try:
        with session_scope(write=True) as db:
            team, token = queries.create_team(
                db, name, now=auth.now(), max_chars=current_app.config["TEAM_NAME_MAX_CHARS"]
            )
            return team.name, token
    except queries.NameTaken as err:
        abort(409, str(err))
    except ValueError as err:
        abort(400, str(err))


@bp.route("/register", methods=["GET", "POST"])
def register():
    open_ = current_app.config["REGISTRATION_OPEN"]
    if request.method == "GET":
        return render_template("register.html", registration_open=open_)
    try:
        name, token = register_team(request.form.get("name", ""))
    except HTTPException as error:
        page = render_template(
            "register.html", registration_open=open_, error=error.description,
            name=request.form.get("name", ""),
        )  # fmt: skip
        return page, error.code
    auth.mark_private()
    return render_template("registered.html", team=name, token=token), 201


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html")
    try:
        team = auth.team_from_token(request.form.get("token", "").strip())
    except HTTPException as error:
        response = render_template("login.html", error=error.description), error.code
        if getattr(error, "retry_after", None):
            response = (*response, {"Retry-After": str(error.retry_after)})
        return response
    auth.login_team(team)
    return redirect(url_for("teams.submit"))


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("public.index"))


def logged_in_team():
    team = auth.session_team()
    if team is None:
        flash("Log in with your team token first.")
    return team


@bp.route("/submit", methods=["GET", "POST"])
def submit():
    team = logged_in_team()
    if team is None:
        return redirect(url_for("teams.login"))
    if request.method == "GET":
        with session_scope() as db:
            used = queries.submissions_today(db, team.id, now=auth.now())
        remaining = max(0, current_app.config["DAILY_QUOTA"] - used)
        return render_template("submit.html", team=team, remaining=remaining)
    try:
        accepted = uploads.receive(team, request.files.get("file"), request.form.get("note", ""))
    except HTTPException as error:
        page = render_template("submit.html", team=team, error=error.description, remaining=None)
        return page, error.code
    s = accepted.submission
    flash(
        f"Submission #{s.id} accepted: public AUC {s.public_auc:.4f} "
        f"(95% CI {s.public_lo:.4f} to {s.public_hi:.4f}); "
        f"{accepted.remaining_today} left today."
    )
    return redirect(url_for("public.team_page", team_id=team.id)), 303


@bp.post("/submissions/<int:submission_id>/final")
def mark_final(submission_id: int):
    team = logged_in_team()
    if team is None:
        return redirect(url_for("teams.login"))
    final = request.form.get("final") == "1"
    set_final(team.id, submission_id, final)
    flash(f"Submission #{submission_id} {'marked' if final else 'no longer marked'} as final.")
    return redirect(url_for("public.team_page", team_id=team.id)), 303


def set_final(team_id: int, submission_id: int, final: bool) -> None:
    """Mark or unmark a team's own submission; 404 for another team's, 409 over the limit."""
    with session_scope(write=True) as db:
        submission = queries.get_submission(db, submission_id)
        if submission is None or submission.team_id != team_id:
            abort(404, f"your team has no submission #{submission_id}")
        if queries.is_revealed(db):
            abort(403, "the final ranking is revealed; finals can no longer change")
        if final and submission.is_late:
            abort(409, f"submission #{submission_id} came after the close; late ones never count")
        try:
            queries.set_final(db, submission, final, max_finals=current_app.config["MAX_FINALS"])
        except queries.TooManyFinals as err:
            abort(409, str(err))
