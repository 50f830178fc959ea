"""What a team does in the browser: register, log in with its token, upload, pick its finals."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from leaderboard import actions, auth, grading, ladder, queries, uploads
from leaderboard.db import session_scope
from leaderboard.forms import (
    REFUSALS,
    errors_shown_on,
    form_error_page,
    http_error,
    settings_and_clock,
    token_login,
)

bp = Blueprint("teams", __name__)


@bp.route("/register", methods=["GET", "POST"])
def register():
    mode = current_app.config["REGISTRATION"]
    if request.method == "GET":
        return render_template("register.html", mode=mode)
    try:
        name, token = actions.register_team(
            request.form.get("name", ""),
            invite=request.form.get("invite", ""),
            address=auth.registering_address(),
            app=current_app,
        )
    except REFUSALS as refusal:
        name = request.form.get("name", "")
        return form_error_page("register.html", http_error(refusal), mode=mode, name=name)
    auth.mark_private()
    return render_template("registered.html", team=name, token=token), 201


@bp.route("/login", methods=["GET", "POST"])
def login():
    return token_login("login.html", auth.team_from_token, auth.login_team, "teams.submit")


@bp.post("/logout")
def logout():
    auth.logout()
    return redirect(url_for("public.index"))


@bp.post("/token")
def new_token():
    """Replace the logged-in team's token: the old one, and every other session, stop at once."""
    team = logged_in_team()
    if team is None:
        return redirect(url_for("teams.login"))
    token = actions.rotate_token(team.id, app=current_app)
    with session_scope(current_app) as db:
        team = queries.get_team(db, team.id)
    auth.login_team(team)  # this browser stays logged in, with a session on the new token
    auth.mark_private()
    return render_template("registered.html", team=team.name, token=token, replaced=True)


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
        return submit_page(team)
    try:
        upload, note = request.files.get("file"), request.form.get("note", "")
        accepted = uploads.receive(team, upload, note, app=current_app)
    except REFUSALS as refusal:
        error = http_error(refusal)
        flash(error.description, "error")
        return submit_page(team), error.code
    s, metric = accepted.submission, grading.answer_key(current_app).metric
    if accepted.scored is None:
        flash(
            f"Submission #{s.id} accepted and queued: a worker runs the model on the test "
            f"records; your team page shows its status and, once scored, its public "
            f"{metric.short_label}. {accepted.remaining_today} left today."
        )
        return redirect(url_for("public.team_page", team_id=team.id)), 303
    # The upload closed nothing: the board is not revealed, or the upload would be late.
    with session_scope(current_app) as db:
        revealed = queries.is_revealed(db)
    flash(
        f"Submission #{s.id} accepted: {ladder.public_text(s, revealed=revealed, app=current_app)}; "
        f"{accepted.remaining_today} left today."
    )
    return redirect(url_for("public.team_page", team_id=team.id)), 303


def submit_page(team) -> str:
    """The upload form with the uploads left today, after a refused upload too."""
    with session_scope(current_app) as db:
        remaining = actions.remaining_today(db, team.id, **settings_and_clock())
    models = uploads.takes_models(current_app.config)
    return render_template("submit.html", team=team, remaining=remaining, models=models)


def own_team_page():
    """The logged-in team's page, where its forms are."""
    from leaderboard import public

    team = auth.session_team()
    return public.team_page(team.id) if team else redirect(url_for("teams.login"))


@bp.post("/submissions/<int:submission_id>/final")
@errors_shown_on(own_team_page)
def mark_final(submission_id: int):
    team = logged_in_team()
    if team is None:
        return redirect(url_for("teams.login"))
    final = request.form.get("final") == "1"
    actions.set_final(team.id, submission_id, final, app=current_app)
    flash(f"Submission #{submission_id} {'marked' if final else 'no longer marked'} as final.")
    return redirect(url_for("public.team_page", team_id=team.id)), 303
