"""The course's pages: the tutors' class page (organizers only: the matrix of learners and
steps, who is stuck and on what, the settings, a CSV for a grade book) and the class's own page,
where learners see one another by pseudonym only."""

from __future__ import annotations

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

from leaderboard import admin, auth, course, export
from leaderboard.db import session_scope
from leaderboard.forms import errors_shown_on
from leaderboard.models import CourseReport

bp = Blueprint("tutor", __name__)


@bp.before_request
def organizers_only():
    """Every page here but the class's pseudonymous one is the organizers'."""
    if request.endpoint == "tutor.class_page":
        return None
    auth.mark_private()
    return admin.require_organizer()


@bp.get("/admin/course")
def tutor_page():
    config = current_app.config
    with session_scope(current_app) as db:
        rows = course.class_rows(db)
        settings = course.course_settings(db)
    stuck = course.stuck(
        rows, now=auth.now(), attempts=config["COURSE_STUCK_ATTEMPTS"],
        minutes=config["COURSE_STUCK_MINUTES"],
    )  # fmt: skip
    reported = [n for n in course.LESSONS if any(key[0] == n for r in rows for key in r.cells)]
    return render_template(
        "tutor.html", rows=rows, stuck=stuck, settings=settings, lessons=course.LESSONS,
        steps=course.STEP_NAMES, reported=reported,
    )  # fmt: skip


@bp.get("/admin/course.csv")
def tutor_csv():
    with session_scope(current_app) as db:
        header, rows = course.csv_rows(course.class_rows(db))
    return admin.csv_download(export.to_csv(header, rows), "course.csv")


@bp.post("/admin/course/settings")
@errors_shown_on(lambda: tutor_page())
def save_settings():
    due = {n: course.parse_due(request.form.get(f"due_{n}", ""), n) for n in course.LESSONS}
    collect_code = request.form.get("collect_code") == "1"
    with session_scope(current_app, write=True) as db:
        course.set_settings(db, due, collect_code)
    flash("Course settings saved.")
    return redirect(url_for("tutor.tutor_page")), 303


@bp.get("/admin/course/reports/<int:report_pk>/code")
def report_code(report_pk: int):
    """A learner's file as sent with a report (only while the tutors asked for the code)."""
    with session_scope(current_app) as db:
        report = db.get(CourseReport, report_pk)
        code = report.code if report is not None else None
    if code is None:
        abort(404, f"report #{report_pk} came without the learner's code")
    return Response(code, mimetype="text/plain")


@bp.get("/course")
def class_page():
    """The class as learners see it: pseudonyms and steps passed, no names, no messages."""
    with session_scope(current_app) as db:
        rows = course.class_rows(db)
        settings = course.course_settings(db)
        team = auth.session_team()
        mine = course.pseudonym_of(db, team.id) if team is not None else None
    return render_template(
        "course.html", rows=rows, lessons=course.LESSONS, steps=course.STEP_NAMES,
        settings=settings, mine=mine,
    )  # fmt: skip
