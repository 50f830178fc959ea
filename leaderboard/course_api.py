"""The learners' JSON API of the course, what `exercises check --report` calls: the settings a
report needs, sending reports, and the learner's own progress. A learner authenticates with its
team token (bearer), as ``challenge submit`` does; there is no way to name another learner.

Errors are JSON ``{"error": message}``: 400 a report that is not what the course takes (the
message names the field), 401 a bad token, 413 too large a request, 429 too many reports.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, jsonify, request

from leaderboard import auth, course
from leaderboard.api import iso
from leaderboard.db import session_scope
from leaderboard.models import Team

bp = Blueprint("course_api", __name__, url_prefix="/api/course")


@bp.before_request
def private():
    auth.mark_private()


@bp.get("/settings")
def settings():
    """What a report needs to know: the lessons and their steps, due dates, whether to send code."""
    auth.team_from_token(auth.bearer_token())
    with session_scope(current_app) as db:
        current = course.course_settings(db)
    lessons = [
        {"lesson": n, "title": lesson.title, "steps": list(course.STEP_NAMES[n]),
         "due": iso(current.due.get(n))}
        for n, lesson in course.LESSONS.items()
    ]  # fmt: skip
    return jsonify(collect_code=current.collect_code, lessons=lessons)


@bp.post("/reports")
def reports():
    team = auth.team_from_token(auth.bearer_token())
    parsed = course.parse_reports(_json_body())
    per_hour = current_app.config["COURSE_REPORTS_PER_HOUR"]
    with session_scope(current_app, write=True) as db:
        recorded = course.record_reports(db, team, parsed, now=auth.now(), per_hour=per_hour)
        pseudonym = course.join(db, team, now=auth.now()).pseudonym
    return jsonify(
        accepted=recorded.accepted,
        duplicates=recorded.duplicates,
        late=recorded.late,
        pseudonym=pseudonym,
    ), (201 if recorded.accepted else 200)


@bp.get("/progress")
def progress():
    """The asker's own steps: its latest status of each, tries, and the checker's last message."""
    team = auth.team_from_token(auth.bearer_token())
    with session_scope(current_app) as db:
        row = course.learner_row(db, team)
        due = course.course_settings(db).due
    return jsonify(_progress_json(team, row, due))


def _progress_json(team: Team, row: course.LearnerRow | None, due: dict) -> dict:
    if row is None:
        return {"team": team.name, "pseudonym": None, "last_activity": None, "lessons": []}
    lessons = []
    for n in course.LESSONS:
        cells = [(step, row.cell(n, step)) for step in course.STEP_NAMES[n]]
        if not any(cell.status for _, cell in cells):
            continue
        steps = [
            {"step": step, "status": cell.status or None, "attempts": cell.attempts,
             "first_at": iso(cell.first_at), "passed_at": iso(cell.passed_at),
             "seconds": cell.seconds, "message": cell.message, "late": cell.late}
            for step, cell in cells
        ]  # fmt: skip
        lessons.append(
            {"lesson": n, "due": iso(due.get(n)), "passed": row.passed(n), "steps": steps}
        )
    return {
        "team": team.name,
        "pseudonym": row.pseudonym,
        "last_activity": iso(row.last_activity),
        "lessons": lessons,
    }


def _json_body() -> object:
    """The request's JSON, or 413 past COURSE_MAX_BODY_BYTES, or 400 when it is not JSON."""
    limit = current_app.config["COURSE_MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        abort(413, f"a request of reports must be at most {limit} bytes; send fewer at a time")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        abort(413, f"a request of reports must be at most {limit} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        abort(400, 'the body is not JSON; expected {"reports": [...]}')
