"""What teams and organizers do, written once for the web pages, the API and the CLI: register a
team (open, by invite code, or by the organizer), replace its token, mark finals, count what is
left of today's quota, and count wrong credentials for the throttle.

Each action checks its rules inside one transaction and answers a broken rule with an HTTP error
(``abort``) that says what was wrong; the CLI prints its description.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import NoReturn

from flask import abort, current_app
from sqlalchemy.orm import Session
from werkzeug.exceptions import TooManyRequests

from leaderboard import queries
from leaderboard.db import session_scope
from leaderboard.models import Invite

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def now() -> datetime:
    """The app's clock: aware UTC (tests replace the config's ``NOW``)."""
    return current_app.config["NOW"]()


def remaining_today(db: Session, team_id: int) -> int:
    """Uploads the team may still make today (UTC); never negative."""
    used = queries.submissions_today(db, team_id, now=now())
    return max(0, current_app.config["DAILY_QUOTA"] - used)


def register_team(name: str, *, address: str, invite: str | None = None) -> tuple[str, str]:
    """A team registering itself from ``address``: its name and token.

    403 when registration is closed; in invite mode 400 without a code, 403 for an unknown one
    (counted as a wrong guess) and 409 for a used one; in open mode 429 past
    REGISTRATIONS_PER_HOUR or REGISTRATIONS_PER_DAY
    from the address (an IPv6 network of REGISTRATION_IPV6_PREFIX bits); 409 for a taken name, 400 for a bad one.
    """
    mode = current_app.config["REGISTRATION"]
    if mode == "closed":
        abort(403, "registration is closed; ask the organizers to add your team")
    if mode == "invite":
        _check_invite_exists(invite or "", address=address)
    try:
        with session_scope(write=True) as db:
            # Checked again under the write lock: two registrations at once cannot share a code
            # or both take the last place of the hour.
            code = _take_invite(db, invite or "") if mode == "invite" else None
            if mode == "open":
                _check_registration_rate(db, address)
            team, token = queries.create_team(
                db, name, now=now(), max_chars=current_app.config["TEAM_NAME_MAX_CHARS"]
            )
            queries.add_registration(db, team, address=address, now=now())
            if code is not None:
                code.used_at, code.team_id = now(), team.id
            return team.name, token
    except queries.NameTaken as err:
        abort(409, str(err))
    except ValueError as err:
        abort(400, str(err))


def _check_invite_exists(code: str, *, address: str) -> None:
    """400 without a code; a code that was never issued counts as a wrong guess (401/429 style)."""
    if not queries.normalize_invite(code):
        abort(400, "registration needs an invite code: enter the one the organizers gave you")
    with session_scope() as db:
        known = queries.get_invite(db, code) is not None
    if not known:
        refuse_wrong_credential(
            "invite code", f"unknown invite code {code.strip()[:40]!r}", address=address, status=403
        )


def _take_invite(db: Session, code: str) -> Invite:
    invite = queries.get_invite(db, code)
    if invite is None:
        abort(403, f"unknown invite code {code.strip()[:40]!r}")
    if invite.used_at is not None:
        abort(409, "this invite code was already used; each code registers one team")
    return invite


def _check_registration_rate(db: Session, address: str) -> None:
    """429 with the time to wait when ``address`` registered its allowance of teams of the last
    hour (REGISTRATIONS_PER_HOUR) or of the last day (REGISTRATIONS_PER_DAY); 0 is no limit."""
    config, moment = current_app.config, now()
    for limit, window, label in (
        (config["REGISTRATIONS_PER_HOUR"], HOUR, "hour"),
        (config["REGISTRATIONS_PER_DAY"], DAY, "24 hours"),
    ):
        if limit == 0:
            continue
        recent = queries.registrations_since(db, address, since=moment - window)
        if len(recent) < limit:
            continue
        wait = max(1, math.ceil((recent[-limit] + window - moment).total_seconds()))
        error = TooManyRequests(
            f"{len(recent)} teams were registered from this address in the last {label}, the "
            f"most allowed is {limit}; try again in {wait} s, or ask the organizers for an "
            "invite code"
        )
        error.retry_after = wait
        raise error


def create_invites(count: int) -> list[str]:
    """``count`` one-use invite codes for `leaderboard invite`; only their hashes are stored."""
    if count < 1:
        abort(400, f"--count must be at least 1, got {count}")
    with session_scope(write=True) as db:
        return queries.add_invites(db, count, now=now())


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


# Why a submission that is not scored cannot be marked final, by its status.
NOT_SCORED = {
    "queued": "is queued: mark it final once it is scored",
    "running": "is being scored: mark it final once it is scored",
    "failed": "failed: it has no score and cannot count",
}


def set_final(team_id: int, submission_id: int, final: bool) -> None:
    """Mark or unmark a team's own submission; 404 for another team's, 409 over the limit, for
    a late one or one without a score (queued, running or failed); unmarking always works."""
    with session_scope(write=True) as db:
        submission = queries.get_submission(db, submission_id)
        if submission is None or submission.team_id != team_id:
            abort(404, f"your team has no submission #{submission_id}")
        if queries.is_revealed(db):
            abort(403, "the final ranking is revealed; finals can no longer change")
        if final and submission.is_late:
            abort(409, f"submission #{submission_id} came after the close; late ones never count")
        if final and submission.status in NOT_SCORED:
            abort(409, f"submission #{submission_id} {NOT_SCORED[submission.status]}")
        try:
            queries.set_final(db, submission, final, max_finals=current_app.config["MAX_FINALS"])
        except queries.TooManyFinals as err:
            abort(409, str(err))


def retry_after_s(failures: int) -> int:
    """How long a client should wait after its ``failures``-th wrong credential: nothing for the
    first BAD_TOKEN_LIMIT, then BAD_TOKEN_DELAY_S doubling with each one, up to the maximum."""
    config = current_app.config
    excess = failures - config["BAD_TOKEN_LIMIT"]
    if excess <= 0:
        return 0
    return min(
        config["BAD_TOKEN_DELAY_S"] * 2 ** min(excess - 1, 30), config["BAD_TOKEN_MAX_DELAY_S"]
    )


def refuse_wrong_credential(
    kind: str, message: str, *, address: str, status: int = 401
) -> NoReturn:
    """Count a wrong ``kind`` (team token, organizer token, invite code) from this address, log it
    for the organizers, and answer ``status``, or 429 with a growing Retry-After past the limit.

    Nothing sleeps: a held thread per wrong guess would let a few clients take every server
    thread. A right credential is checked before this and always works, so a classroom behind one
    address is never locked out by one pupil's typos.
    """
    with session_scope(write=True) as db:
        failures = queries.record_token_failure(
            db, address, kind=kind, now=now(), forget_s=current_app.config["BAD_TOKEN_FORGET_S"]
        )
    wait = retry_after_s(failures)
    log = current_app.logger.warning if wait else current_app.logger.info
    log("wrong %s from %s (%d in a row)", kind, address, failures)
    if not wait:
        abort(status, message)
    error = TooManyRequests(
        f"{message}; {failures} wrong tokens or codes from this address lately: "
        f"wait {wait} s before the next try"
    )
    error.retry_after = wait
    raise error
