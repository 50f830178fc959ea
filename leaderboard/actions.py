"""What teams and organizers do, written once for the web pages, the API and the CLI: register a
team, replace its token, mark finals, and count what is left of today's quota.

Each action checks its rules inside one transaction and answers a broken rule with an HTTP error
(``abort``) that says what was wrong; the CLI prints its description.
"""

from __future__ import annotations

from datetime import datetime

from flask import abort, current_app
from sqlalchemy.orm import Session

from leaderboard import queries
from leaderboard.db import session_scope


def now() -> datetime:
    """The app's clock: aware UTC (tests replace the config's ``NOW``)."""
    return current_app.config["NOW"]()


def remaining_today(db: Session, team_id: int) -> int:
    """Uploads the team may still make today (UTC); never negative."""
    used = queries.submissions_today(db, team_id, now=now())
    return max(0, current_app.config["DAILY_QUOTA"] - used)


def register_team(name: str) -> tuple[str, str]:
    """A team registering itself: its name and token; 403 closed, 409 taken, 400 bad name."""
    if not current_app.config["REGISTRATION_OPEN"]:
        abort(403, "registration is closed; ask the organizers to add your team")
    return add_team(name)


def add_team(name: str) -> tuple[str, str]:
    """The organizer adding a team, whatever the registration mode: its name and token."""
    try:
        with session_scope(write=True) as db:
            team, token = queries.create_team(
                db, name, now=now(), max_chars=current_app.config["TEAM_NAME_MAX_CHARS"]
            )
            return team.name, token
    except queries.NameTaken as err:
        abort(409, str(err))
    except ValueError as err:
        abort(400, str(err))


def rotate_token(team_id: int) -> str:
    """Give a team a new token (returned, shown once); the old one and its sessions stop at once."""
    with session_scope(write=True) as db:
        team = queries.get_team(db, team_id)
        if team is None or team.is_reference:
            abort(404, f"no team with id {team_id}")
        return queries.set_token(db, team)


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
