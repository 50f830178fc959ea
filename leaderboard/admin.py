"""The organizers' pages: every submission with its private score, disqualification, the reveal,
and CSV exports. Reached with the organizer token (login form, or a bearer header for scripts)."""

from __future__ import annotations

from datetime import datetime, timedelta

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

from leaderboard import auth, export, final, grading, queries, ranking
from leaderboard.db import session_scope
from leaderboard.forms import errors_shown_on, token_login
from leaderboard.models import PENDING

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


def _now() -> datetime:
    return current_app.config["NOW"]()


@bp.route("/login", methods=["GET", "POST"])
def login():
    return token_login(
        "admin_login.html", _check_organizer, lambda _: auth.login_organizer(), "admin.dashboard"
    )


def _check_organizer(token: str) -> None:
    if not token:
        abort(401, "enter the organizer token")
    auth.check_organizer_token(token)


@bp.post("/logout")
def logout():
    auth.logout()
    return redirect(url_for("public.index"))


@bp.get("/")
def dashboard():
    with session_scope(current_app) as db:
        revealed = queries.is_revealed(db)
        # What the reveal would show now, for the organizers' eyes only (never cached, never public).
        preview = None if revealed else ranking.final_board(db, now=_now(), app=current_app)
        status_counts = queries.status_counts(db)
        return render_template(
            "admin.html",
            preview=preview,
            metric=grading.answer_key(current_app).metric,
            submissions=queries.all_submissions(db),
            status_counts=status_counts,
            pending=sum(status_counts[status] for status in PENDING),
            teams=queries.all_teams(db),
            refused_today=queries.refused_today_by_team(db, now=_now()),
            refused_limit=current_app.config["REFUSED_PER_DAY"],
            revealed=queries.is_revealed(db),
            audit_log=queries.audit_log(db),
            shared_files=queries.files_of_several_teams(db),
            token_failures=queries.recent_token_failures(db, since=_now() - timedelta(hours=24)),
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
    with session_scope(current_app) as db:
        revealed = queries.is_revealed(db)
    if not revealed:
        return ""
    return (
        " The revealed final ranking is unchanged: `leaderboard rerank --reason ...` applies it"
        " and records why."
    )


# What the dashboard disqualifies, by the word in its URL: the query that finds one by id, what
# the 404 says when there is none, and how the flash message names the one found.
DISQUALIFIABLE = {
    "submissions": (queries.get_submission, "no submission #{}", lambda s: f"Submission #{s.id}"),
    "teams": (queries.get_team, "no team with id {}", lambda team: f"Team {team.name}"),
}


@bp.post(f"/<any({', '.join(DISQUALIFIABLE)}):kind>/<int:target_id>/disqualify")
@errors_shown_on(lambda: dashboard())
def disqualify(kind: str, target_id: int):
    """Disqualify a submission or a team with the form's reason (or reinstate it)."""
    find, missing, named = DISQUALIFIABLE[kind]
    reason = _reason()
    with session_scope(current_app, write=True) as db:
        target = find(db, target_id)
        if target is None:
            abort(404, missing.format(target_id))
        queries.disqualify(db, target, reason)
        name = named(target)
    flash(f"{name} {'disqualified' if reason else 'reinstated'}.{_rerank_hint()}")
    return redirect(url_for("admin.dashboard")), 303


@bp.post("/reveal")
@errors_shown_on(lambda: dashboard())
def reveal():
    if request.form.get("confirm") != "reveal":
        abort(400, "type 'reveal' to confirm: the private scores cannot be hidden again")
    message = final.reveal(current_app._get_current_object(), now=_now())
    flash(message[0].upper() + message[1:] + ".")
    return redirect(url_for("public.index")), 303


@bp.get("/export/<what>.csv")
def export_csv(what: str):
    if what not in export.EXPORTS:
        abort(404, f"no export called {what!r}; there are 'leaderboard' and 'submissions'")
    with session_scope(current_app) as db:
        text = export.csv_text(db, what, current_app)
    return csv_download(text, f"{what}.csv")


def csv_download(text: str, filename: str) -> Response:
    """CSV ``text`` as a file that the browser saves as ``filename``."""
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )
