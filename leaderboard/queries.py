"""Every read and write of the database, as plain functions that take the session first.

Views and CLI commands call these and nothing else touches the ORM, so each rule (the quota,
the number of finals, a free team name) is written once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from leaderboard import names
from leaderboard.db import CLOSED_AT, FINALS_FROZEN, REVEALED
from leaderboard.models import (
    PENDING,
    SCORED,
    STATUSES,
    AuditEntry,
    FinalRanking,
    Invite,
    LoginSession,
    RefusedUploads,
    Registration,
    Setting,
    Submission,
    Team,
    TokenFailures,
)

# Unicode categories refused in names and notes: controls, format characters (bidi overrides,
# zero-width joiners), private use, surrogates and unassigned code points.
REFUSED_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn"}


class NameTaken(ValueError):
    """Another team already has this name (compared after NFKC normalisation and case folding)."""


class TooManyFinals(ValueError):
    """A team tried to mark more submissions as final than the rules allow."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def tokens_match(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens (through their sha256, so lengths leak nothing)."""
    return hmac.compare_digest(hash_token(given), hash_token(expected))


def clean_text(text: str, *, max_chars: int, what: str) -> str:
    """``text`` NFKC-normalised with runs of white space collapsed; ValueError names the fault."""
    text = unicodedata.normalize("NFKC", text)
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES and char not in "\t\n\r":
            raise ValueError(
                f"{what} contains the invisible or control character U+{ord(char):04X} "
                f"at position {position + 1}"
            )
    text = " ".join(text.split())
    if len(text) > max_chars:
        raise ValueError(f"{what} is {len(text)} characters long; at most {max_chars} are allowed")
    return text


REASON_MAX_CHARS = 500  # a disqualification or re-ranking reason, shown to the team


def clean_reason(text: str | None) -> str:
    """A disqualification or re-ranking reason, cleaned as ``clean_text``; ValueError when it is
    empty (the team will see it) or too long."""
    reason = clean_text(text or "", max_chars=REASON_MAX_CHARS, what="the reason")
    if not reason:
        raise ValueError("give a reason: the team will see it")
    return reason


def team_name_key(name: str) -> str:
    """What two names must differ in: their confusable skeleton (see ``leaderboard.names``)."""
    return names.name_key(name)


def create_team(
    session: Session, name: str, *, now: datetime, max_chars: int = 40, is_reference: bool = False
) -> tuple[Team, str]:
    """Register a team; returns it with its token, which is shown once and stored only hashed."""
    given, name = name, clean_text(name, max_chars=max_chars, what="the team name")
    if not name:
        raise ValueError("the team name is empty")
    names.check_visible(given)  # positions as typed
    names.check_visible(name)  # and what NFKC made of it
    key = team_name_key(name)
    if session.scalar(select(Team.id).where(Team.name_key == key)) is not None:
        raise NameTaken(f"the team name {name!r} is already taken")
    token = secrets.token_urlsafe(24)
    team = Team(
        name=name,
        name_key=key,
        token_hash=hash_token(token),
        is_reference=is_reference,
        created_at=now,
    )
    session.add(team)
    session.flush()
    return team, token


def team_by_token(session: Session, token: str) -> Team | None:
    """The team whose token this is, or None; reference rows never log in."""
    if not token:
        return None
    wanted = hash_token(token)
    team = session.scalar(select(Team).where(Team.token_hash == wanted))
    if team is None or team.is_reference or not hmac.compare_digest(team.token_hash, wanted):
        return None
    return team


def set_token(session: Session, team: Team) -> str:
    """Give ``team`` a new token (returned, shown once) and end every log-in session of the team."""
    token = secrets.token_urlsafe(24)
    team.token_hash = hash_token(token)
    session.execute(delete(LoginSession).where(LoginSession.team_id == team.id))
    return token


def add_login_session(
    session: Session, team_id: int | None, *, credential_hash: str, now: datetime
) -> str:
    """A new log-in session for a team (or the organizer: None); returns the cookie's random id."""
    session_id = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            id_hash=hash_token(session_id),
            team_id=team_id,
            credential_hash=credential_hash,
            created_at=now,
        )
    )
    return session_id


def login_session(
    session: Session, session_id: str, *, now: datetime, lifetime_s: int
) -> LoginSession | None:
    """The live log-in session whose cookie id this is, or None (unknown, ended or expired)."""
    found = session.get(LoginSession, hash_token(session_id))
    if found is None or now - found.created_at >= timedelta(seconds=lifetime_s):
        return None
    return found


def end_login_session(session: Session, session_id: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.id_hash == hash_token(session_id)))


def end_expired_login_sessions(session: Session, *, now: datetime, lifetime_s: int) -> None:
    cutoff = now - timedelta(seconds=lifetime_s)
    session.execute(delete(LoginSession).where(LoginSession.created_at < cutoff))


def team_by_name(session: Session, name: str) -> Team | None:
    return session.scalar(select(Team).where(Team.name_key == team_name_key(name.strip())))


def get_team(session: Session, team_id: int) -> Team | None:
    return session.get(Team, team_id)


def get_submission(session: Session, submission_id: int) -> Submission | None:
    return session.get(Submission, submission_id)


def utc_day_start(now: datetime) -> datetime:
    now = now.astimezone(timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def submissions_today(session: Session, team_id: int, *, now: datetime) -> int:
    """Accepted submissions of a team since midnight UTC (rejected files are never stored),
    whatever their status: a queued, running or failed model costs the server as much as a
    scored one, so it counts against the quota too."""
    start = utc_day_start(now)
    return session.scalar(
        select(func.count(Submission.id)).where(
            Submission.team_id == team_id,
            Submission.created_at >= start,
            Submission.created_at < start + timedelta(days=1),
        )
    )


def refused_today(session: Session, team_id: int, *, now: datetime) -> int:
    """Uploads of a team refused as invalid since midnight UTC."""
    row = session.get(RefusedUploads, (team_id, utc_day_start(now).date()))
    return 0 if row is None else row.count


def refused_today_by_team(session: Session, *, now: datetime) -> dict[int, int]:
    """Each team's uploads refused as invalid since midnight UTC (teams with none left out)."""
    day = utc_day_start(now).date()
    rows = session.execute(
        select(RefusedUploads.team_id, RefusedUploads.count).where(RefusedUploads.day == day)
    )
    return {team_id: count for team_id, count in rows}


def add_refused(session: Session, team_id: int, *, now: datetime) -> int:
    """Count one refused upload of a team today (UTC); returns today's count. Call it under the
    write lock, so that two refusals at once both count."""
    day = utc_day_start(now).date()
    row = session.get(RefusedUploads, (team_id, day))
    if row is None:
        row = RefusedUploads(team_id=team_id, day=day, count=0)
        session.add(row)
    row.count += 1
    return row.count


def add_submission(session: Session, team: Team, **fields) -> Submission:
    submission = Submission(team_id=team.id, **fields)
    session.add(submission)
    session.flush()
    return submission


def submissions_by_id(session: Session, ids: list[int]) -> list[Submission]:
    return list(session.scalars(select(Submission).where(Submission.id.in_(ids))))


def recorded_hashes(session: Session) -> set[str]:
    """The sha256 of every stored file that a submission row refers to: the upload (a prediction
    file or a model) and the scores a worker wrote from a model."""
    uploaded = set(session.scalars(select(Submission.sha256).distinct()))
    scores = session.scalars(select(Submission.scores_sha256).distinct())
    return uploaded | {sha256 for sha256 in scores if sha256 is not None}


def status_counts(session: Session) -> dict[str, int]:
    """How many submissions are in each status (every one of ``STATUSES``, zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in session.execute(
        select(Submission.status, func.count(Submission.id)).group_by(Submission.status)
    ):
        counts[status] = count
    return counts


def pending_on_time(session: Session) -> list[Submission]:
    """On-time submissions still queued or running that could count in the final ranking (not
    disqualified, nor of a disqualified team), oldest first: the reveal waits for them."""
    return list(
        session.scalars(
            select(Submission)
            .join(Team)
            .where(
                Submission.status.in_(PENDING),
                Submission.is_late.is_(False),
                Submission.disqualified_reason.is_(None),
                Team.disqualified_reason.is_(None),
            )
            .order_by(Submission.id)
        )
    )


def team_submissions(session: Session, team_id: int) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission).where(Submission.team_id == team_id).order_by(Submission.id)
        )
    )


def all_submissions(session: Session) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission).options(selectinload(Submission.team)).order_by(Submission.id)
        )
    )


def all_teams(session: Session) -> list[Team]:
    """Every team and reference with its submissions loaded, in order of registration."""
    return list(
        session.scalars(select(Team).options(selectinload(Team.submissions)).order_by(Team.id))
    )


@dataclass
class TeamSubmissions:
    """A team with the columns of its submissions that ranking reads, as plain rows (no ORM
    objects, which is faster); the input of a ranking, not yet ranked. ``entries`` and
    ``last_submission`` count its scored on-time submissions, in SQL, even when ``submissions``
    holds only its candidates."""

    id: int
    name: str
    is_reference: bool
    disqualified_reason: str | None
    submissions: list = field(default_factory=list)
    entries: int = 0
    last_submission: datetime | None = None


# No scored_at: ``ranking_teams`` compares it in SQL, and each datetime read is parsed per row.
RANKING_COLUMNS = (
    Submission.id, Submission.team_id, Submission.created_at, Submission.filename,
    Submission.status, Submission.scores_sha256, Submission.public_auc, Submission.public_lo,
    Submission.public_hi, Submission.private_auc, Submission.private_lo, Submission.private_hi,
    Submission.is_final, Submission.disqualified_reason, Submission.is_late,
    Submission.ladder_accepted,
)  # fmt: skip


def ranking_teams(
    session: Session,
    *,
    scored_by: datetime | None = None,
    candidates_for: bool | None = None,
) -> list[TeamSubmissions]:
    """Every team and reference with its submissions as plain rows, in order of registration.

    With ``scored_by``, only the submissions scored by then (a re-ranking leaves out what a
    worker scored after the reveal); the ranking itself skips those not scored. With
    ``candidates_for`` (whether higher scores are better), only the submissions a ranking can
    pick, chosen in SQL: per team, the best eligible public score, the best one the Ladder
    accepted, the first eligible one, and the finals (a few rows a team instead of all).
    """
    teams = {
        row.id: TeamSubmissions(row.id, row.name, row.is_reference, row.disqualified_reason)
        for row in session.execute(
            select(Team.id, Team.name, Team.is_reference, Team.disqualified_reason).order_by(
                Team.id
            )
        )
    }
    scored = (Submission.scored_at <= scored_by,) if scored_by is not None else ()
    on_time = (Submission.status == SCORED, Submission.is_late.is_(False), *scored)
    activity = (
        select(Submission.team_id, func.count(), func.max(Submission.created_at))
        .where(*on_time)
        .group_by(Submission.team_id)
    )
    for team_id, entries, last in session.execute(activity):
        team = teams[team_id]
        team.entries, team.last_submission = entries, _utc(last)
    query = select(*RANKING_COLUMNS)
    if candidates_for is not None:
        query = query.where(Submission.id.in_(_candidates(on_time, candidates_for)))
    else:
        query = query.where(*scored)
    for row in session.execute(query.order_by(Submission.id)):
        teams[row.team_id].submissions.append(row)
    return list(teams.values())


def _candidates(on_time: tuple, higher_is_better: bool):
    """The ids of the submissions a ranking may pick (see ``ranking_teams``), as a subquery:
    per team, among its accepted and among its other eligible submissions apart (the better of
    the two is its best), those with the best public score (ties all come: ``ranking`` breaks
    them) and the first; and its finals. Two scans of the table: SQLite's window functions took
    five times longer at 50,000 submissions."""
    eligible = (*on_time, Submission.disqualified_reason.is_(None))
    accepted = Submission.ladder_accepted.is_(True)
    best = func.max if higher_is_better else func.min
    groups = (
        select(
            Submission.team_id,
            accepted.label("accepted"),
            best(Submission.public_auc).label("best"),
            func.min(Submission.id).label("first"),
        )
        .where(*eligible)
        .group_by(Submission.team_id, accepted)
        .subquery()
    )
    return (
        select(Submission.id)
        .join(groups, Submission.team_id == groups.c.team_id)
        .where(
            *eligible,
            accepted == groups.c.accepted,
            or_(
                Submission.public_auc == groups.c.best,
                Submission.id == groups.c.first,
                Submission.is_final.is_(True),
            ),
        )
    )


def _utc(moment: datetime | None) -> datetime | None:
    """An aggregate's datetime (SQLite returns text, without the column's type) as aware UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc) if moment is not None else None


def set_final(session: Session, submission: Submission, final: bool, *, max_finals: int) -> None:
    """Mark or unmark a submission as one of its team's finals (at most ``max_finals``)."""
    if final and not submission.is_final:
        count = session.scalar(
            select(func.count(Submission.id)).where(
                Submission.team_id == submission.team_id, Submission.is_final.is_(True)
            )
        )
        if count >= max_finals:
            raise TooManyFinals(
                f"a team may mark at most {max_finals} submissions as final; unmark one first"
            )
    submission.is_final = final


def disqualify(session: Session, target: Team | Submission, reason: str | None) -> None:
    """Disqualify a team or one submission with a reason the team sees; None reinstates."""
    target.disqualified_reason = reason


def is_revealed(session: Session) -> bool:
    setting = session.get(Setting, REVEALED)
    return bool(setting and setting.value)


def revealed_at(session: Session) -> datetime | None:
    """When the final ranking was revealed, or None while it is hidden."""
    return _time_setting(session, REVEALED)


def set_revealed(session: Session, revealed: bool, *, now: datetime) -> None:
    _set_time_setting(session, REVEALED, now if revealed else None)


def closed_at(session: Session) -> datetime | None:
    """The close time that the reveal set, if it closed submissions before the configured one."""
    return _time_setting(session, CLOSED_AT)


def set_closed_at(session: Session, moment: datetime | None) -> None:
    _set_time_setting(session, CLOSED_AT, moment)


def finals_frozen_at(session: Session) -> datetime | None:
    """When the first reveal froze the finals (private numbers were shown), or None."""
    return _time_setting(session, FINALS_FROZEN)


def freeze_finals(session: Session, *, now: datetime) -> None:
    """Freeze the finals, for good: an undone reveal does not thaw them."""
    if finals_frozen_at(session) is None:
        _set_time_setting(session, FINALS_FROZEN, now)


def _time_setting(session: Session, name: str) -> datetime | None:
    """A settings row that holds a moment (ISO 8601), or None when it is empty or missing."""
    setting = session.get(Setting, name)
    return datetime.fromisoformat(setting.value) if setting and setting.value else None


def _set_time_setting(session: Session, name: str, moment: datetime | None) -> None:
    setting = session.get(Setting, name) or Setting(name=name)
    setting.value = moment.isoformat() if moment else ""
    session.add(setting)


def save_final_ranking(session: Session, body: str, *, now: datetime) -> FinalRanking:
    record = FinalRanking(created_at=now, body=body)
    session.add(record)
    session.flush()
    return record


def latest_final_ranking(session: Session) -> FinalRanking | None:
    return session.scalar(select(FinalRanking).order_by(FinalRanking.id.desc()).limit(1))


def add_audit_entry(
    session: Session, action: str, *, now: datetime, reason: str = "", detail: str = ""
) -> None:
    session.add(AuditEntry(at=now, action=action, reason=reason, detail=detail))


def audit_log(session: Session) -> list[AuditEntry]:
    """What the organizers did to the final ranking, newest first."""
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())))


def late_submissions(session: Session) -> list[Submission]:
    """Scored uploads after the close, oldest first, with their teams: listed apart, never
    ranked (a late model waits in the queue, or failed, unlisted)."""
    return list(
        session.scalars(
            select(Submission)
            .options(selectinload(Submission.team))
            .where(Submission.is_late.is_(True), Submission.status == SCORED)
            .order_by(Submission.id)
        )
    )


def record_token_failure(
    session: Session, address: str, *, kind: str, now: datetime, forget_s: int
) -> int:
    """Count a wrong credential from ``address``; returns its failures, forgotten after
    ``forget_s`` seconds without one."""
    row = session.get(TokenFailures, address)
    if row is None:
        row = TokenFailures(address=address, failures=0, first_at=now)
        session.add(row)
    elif now - row.last_at >= timedelta(seconds=forget_s):
        row.failures, row.first_at = 0, now
    row.failures += 1
    row.last_at, row.last_kind = now, kind
    return row.failures


def recent_token_failures(session: Session, *, since: datetime) -> list[TokenFailures]:
    """Addresses that sent wrong credentials since ``since``, the latest first (for /admin)."""
    return list(
        session.scalars(
            select(TokenFailures)
            .where(TokenFailures.last_at >= since)
            .order_by(TokenFailures.last_at.desc())
        )
    )


# Invite codes: 16 characters without look-alikes (no 0/O, 1/I/L), about 79 bits, in groups of 4.
INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
INVITE_LENGTH = 16


def normalize_invite(code: str) -> str:
    """An invite code as typed (any case, with or without dashes and spaces) in its stored form."""
    return "".join(code.split()).replace("-", "").upper()


def add_invites(session: Session, count: int, *, now: datetime) -> list[str]:
    """``count`` new one-use invite codes (returned, shown once; only their sha256 is stored)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
        session.add(Invite(code_hash=hash_token(raw), created_at=now))
        codes.append("-".join(raw[i : i + 4] for i in range(0, INVITE_LENGTH, 4)))
    return codes


def get_invite(session: Session, code: str) -> Invite | None:
    return session.get(Invite, hash_token(normalize_invite(code)))


def invite_counts(session: Session) -> tuple[int, int]:
    """(used, all) invite codes."""
    used = session.scalar(
        select(func.count()).select_from(Invite).where(Invite.used_at.is_not(None))
    )
    return used, session.scalar(select(func.count()).select_from(Invite))


def registrations_since(session: Session, address: str, *, since: datetime) -> list[datetime]:
    """When ``address`` registered teams after ``since``, oldest first."""
    return list(
        session.scalars(
            select(Registration.created_at)
            .where(Registration.address == address, Registration.created_at > since)
            .order_by(Registration.created_at)
        )
    )


def add_registration(session: Session, team: Team, *, address: str, now: datetime) -> None:
    session.add(Registration(address=address, team_id=team.id, created_at=now))


def team_submission_of_file(session: Session, team_id: int, sha256: str) -> Submission | None:
    """The team's earliest submission of the file with this sha256, if it sent it before."""
    return session.scalar(
        select(Submission)
        .where(Submission.team_id == team_id, Submission.sha256 == sha256)
        .order_by(Submission.id)
        .limit(1)
    )


@dataclass(frozen=True)
class SharedFile:
    """Submissions of several teams that share a file, oldest first: the uploaded file itself
    (``what == "file"``, whatever its status), or the scores that workers computed from
    different model files (``"scores"``: the same predictions under another model file)."""

    what: str
    sha256: str
    submissions: list[Submission]


def files_of_several_teams(session: Session) -> list[SharedFile]:
    """Uploaded files, then scored models' predictions, that more than one team submitted."""
    files = _shared(session, Submission.sha256, "file")
    seen = {frozenset(s.id for s in group.submissions) for group in files}
    # Only scored rows have a scores file; a prediction file is its own, so its group repeats.
    scores = _shared(session, Submission.scores_sha256, "scores")
    return files + [g for g in scores if frozenset(s.id for s in g.submissions) not in seen]


def _shared(session: Session, column, what: str) -> list[SharedFile]:
    """Groups of submissions with the same ``column`` (a hash) from several teams."""
    shared = (
        select(column)
        .where(column.is_not(None))
        .group_by(column)
        .having(func.count(func.distinct(Submission.team_id)) > 1)
    )
    groups: dict[str, list[Submission]] = {}
    for submission in session.scalars(
        select(Submission)
        .options(selectinload(Submission.team))
        .where(column.in_(shared))
        .order_by(Submission.id)
    ):
        groups.setdefault(getattr(submission, column.key), []).append(submission)
    return [SharedFile(what, sha256, group) for sha256, group in groups.items()]
