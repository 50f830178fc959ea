"""What teams and organizers do, written once for the web pages, the API and the CLI: register a
team (open, by invite code, or by the organizer), replace its token, mark finals, count what is
left of today's quota, and count wrong credentials for the throttle.

Each action checks its rules inside one transaction and raises the ``leaderboard.errors`` error
of a broken rule. An action takes the ``app`` whose database it changes, and reads the settings
and the clock from it (``app.config``, ``app.config["NOW"]``); a check inside a transaction takes
the session, the settings (``config``) and the clock. No action reads ``current_app``: each
serves a request, a command, a worker and a test alike.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NoReturn

from flask import Flask
from sqlalchemy.orm import Session

from leaderboard import errors, queries
from leaderboard.db import session_scope
from leaderboard.models import Invite

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
Clock = Callable[[], datetime]  # aware UTC; the app's is its config's ``NOW``
Config = Mapping[str, Any]  # the app's settings (``app.config``)

logger = logging.getLogger(__name__)


def remaining_today(db: Session, team_id: int, *, config: Config, clock: Clock) -> int:
    """Uploads the team may still make today (UTC); never negative."""
    used = queries.submissions_today(db, team_id, now=clock())
    return max(0, config["DAILY_QUOTA"] - used)


@contextmanager
def _team_rules() -> Iterator[None]:
    """A team name the rules refuse: taken (Conflict) or malformed (InvalidInput)."""
    try:
        yield
    except queries.NameTaken as err:
        raise errors.Conflict(str(err)) from None
    except errors.RuleError:
        raise
    except ValueError as err:
        raise errors.InvalidInput(str(err)) from None


def register_team(
    name: str, *, address: str, app: Flask, invite: str | None = None
) -> tuple[str, str]:
    """A team registering itself from ``address``: its name and token.

    RegistrationClosed; in invite mode InvalidInput without a code, UnknownInvite for an
    unknown one (counted as a wrong guess) and InviteUsed; in open mode Throttled past
    REGISTRATIONS_PER_HOUR or REGISTRATIONS_PER_DAY from the address (an IPv6 network of
    REGISTRATION_IPV6_PREFIX bits); Conflict for a taken name, InvalidInput for a bad one.
    """
    config, clock = app.config, app.config["NOW"]
    mode = config["REGISTRATION"]
    if mode == "closed":
        raise errors.RegistrationClosed()
    if mode == "invite":
        _check_invite_exists(invite or "", address=address, app=app)
    with _team_rules(), session_scope(app, write=True) as db:
        # Checked again under the write lock: two registrations at once cannot share a code
        # or both take the last place of the hour.
        code = _take_invite(db, invite or "") if mode == "invite" else None
        if mode == "open":
            _check_registration_rate(db, address, config=config, clock=clock)
        team, token = queries.create_team(
            db, name, now=clock(), max_chars=config["TEAM_NAME_MAX_CHARS"]
        )
        queries.add_registration(db, team, address=address, now=clock())
        if code is not None:
            code.used_at, code.team_id = clock(), team.id
        return team.name, token


def _check_invite_exists(code: str, *, address: str, app: Flask) -> None:
    """InvalidInput without a code; a code that was never issued counts as a wrong guess."""
    if not queries.normalize_invite(code):
        raise errors.InvalidInput(
            "registration needs an invite code: enter the one the organizers gave you"
        )
    with session_scope(app) as db:
        known = queries.get_invite(db, code) is not None
    if not known:
        refuse_wrong_credential("invite code", errors.UnknownInvite(code), address=address, app=app)


def _take_invite(db: Session, code: str) -> Invite:
    invite = queries.get_invite(db, code)
    if invite is None:
        raise errors.UnknownInvite(code)
    if invite.used_at is not None:
        raise errors.InviteUsed()
    return invite


def _check_registration_rate(db: Session, address: str, *, config: Config, clock: Clock) -> None:
    """Throttled with the time to wait when ``address`` registered its allowance of teams of the
    last hour (REGISTRATIONS_PER_HOUR) or of the last day (REGISTRATIONS_PER_DAY); 0 is no limit."""
    moment = clock()
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
        raise errors.Throttled(
            f"{len(recent)} teams were registered from this address in the last {label}, the "
            f"most allowed is {limit}; try again in {wait} s, or ask the organizers for an "
            "invite code",
            retry_after=wait,
        )


def create_invites(count: int, *, app: Flask) -> list[str]:
    """``count`` one-use invite codes for `leaderboard invite`; only their hashes are stored."""
    if count < 1:
        raise errors.InvalidInput(f"--count must be at least 1, got {count}")
    with session_scope(app, write=True) as db:
        return queries.add_invites(db, count, now=app.config["NOW"]())


def add_team(name: str, *, app: Flask) -> tuple[str, str]:
    """The organizer adding a team, whatever the registration mode: its name and token."""
    with _team_rules(), session_scope(app, write=True) as db:
        team, token = queries.create_team(
            db, name, now=app.config["NOW"](), max_chars=app.config["TEAM_NAME_MAX_CHARS"]
        )
        return team.name, token


def rotate_token(team_id: int, *, app: Flask) -> str:
    """Give a team a new token (returned, shown once); the old one and its sessions stop at once."""
    with session_scope(app, write=True) as db:
        team = queries.get_team(db, team_id)
        if team is None or team.is_reference:
            raise errors.NotFound(f"no team with id {team_id}")
        return queries.set_token(db, team)


# Why a submission that is not scored cannot be marked final, by its status.
NOT_SCORED = {
    "queued": "is queued: mark it final once it is scored",
    "running": "is being scored: mark it final once it is scored",
    "failed": "failed: it has no score and cannot count",
}


LATE = "came after the close; late ones never count"


def set_final(team_id: int, submission_id: int, final: bool, *, app: Flask) -> None:
    """Mark or unmark a team's own submission; NotFound for another team's, FinalsFrozen once
    the first reveal showed the private scores (an undo does not thaw them), NotFinalable for a
    late one or one without a score (queued, running or failed), Conflict over the limit;
    unmarking always works until then."""
    with session_scope(app, write=True) as db:
        submission = queries.get_submission(db, submission_id)
        if submission is None or submission.team_id != team_id:
            raise errors.NotFound(f"your team has no submission #{submission_id}")
        frozen = queries.finals_frozen_at(db)
        if frozen is not None:
            raise errors.FinalsFrozen(frozen)
        if final and submission.is_late:
            raise errors.NotFinalable(submission_id, LATE)
        if final and submission.status in NOT_SCORED:
            raise errors.NotFinalable(submission_id, NOT_SCORED[submission.status])
        try:
            queries.set_final(db, submission, final, max_finals=app.config["MAX_FINALS"])
        except queries.TooManyFinals as err:
            raise errors.Conflict(str(err)) from None


def retry_after_s(failures: int, *, config: Config) -> int:
    """How long a client should wait after its ``failures``-th wrong credential: nothing for the
    first BAD_TOKEN_LIMIT, then BAD_TOKEN_DELAY_S doubling with each one, up to the maximum."""
    excess = failures - config["BAD_TOKEN_LIMIT"]
    if excess <= 0:
        return 0
    return min(
        config["BAD_TOKEN_DELAY_S"] * 2 ** min(excess - 1, 30), config["BAD_TOKEN_MAX_DELAY_S"]
    )


def refuse_wrong_credential(
    kind: str, refusal: errors.RuleError, *, address: str, app: Flask
) -> NoReturn:
    """Count a wrong ``kind`` (team token, organizer token, invite code) from this address, log it
    for the organizers, and raise ``refusal``, or Throttled with a growing wait past the limit.

    Nothing sleeps: a held thread per wrong guess would let a few clients take every server
    thread. A right credential is checked before this and always works, so a classroom behind one
    address is never locked out by one pupil's typos.
    """
    config = app.config
    with session_scope(app, write=True) as db:
        failures = queries.record_token_failure(
            db, address, kind=kind, now=config["NOW"](), forget_s=config["BAD_TOKEN_FORGET_S"]
        )
    wait = retry_after_s(failures, config=config)
    log = logger.warning if wait else logger.info
    log("wrong %s from %s (%d in a row)", kind, address, failures)
    if not wait:
        raise refusal
    raise errors.Throttled(
        f"{refusal}; {failures} wrong tokens or codes from this address lately: "
        f"wait {wait} s before the next try",
        retry_after=wait,
    )
