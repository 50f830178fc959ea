"""The course's rules: the lesson checks learners report, the tutors' settings (due dates, asking
for the code), and the class as tutors see it (a matrix, who is stuck) and as learners see it
(pseudonyms only).

A learner is a team (registered with a token or an invite, as the contest's teams are) that sent
a report. Reports are checked against the lessons' own step names (``exercises.lessons``) and
recorded once per report id, so that a learner's outbox can send one again without harm.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from exercises.lessons import LESSONS, STEP_NAMES
from leaderboard import errors
from leaderboard.models import CourseLearner, CourseReport, CourseStep, Setting, Team

STATUSES = ("passed", "failed", "skipped", "not run")  # as `exercises check` names them
RAN = ("passed", "failed")  # a step that ran; skipped and not-run steps did not
MAX_REPORTS_PER_REQUEST = 50
MAX_MESSAGE_CHARS = 2000
MAX_CODE_CHARS = 200_000
MAX_SECONDS = 24 * 3600.0
REPORT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
SHA256 = re.compile(r"[0-9a-f]{64}")
REPORT_FIELDS = {"id", "lesson", "file_sha256", "checked_at", "quick", "steps", "code"}
STEP_FIELDS = {"name", "status", "seconds", "message"}

DUE_SETTING = "course_due_{lesson}"  # an ISO 8601 UTC time, or absent
COLLECT_CODE = "course_collect_code"  # "1": learners send their file with each report


@dataclass(frozen=True)
class StepIn:
    name: str
    status: str
    seconds: float
    message: str


@dataclass(frozen=True)
class ReportIn:
    """A report as validated, before it is recorded."""

    id: str
    lesson: int
    file_sha256: str
    checked_at: datetime
    quick: bool
    steps: tuple[StepIn, ...]
    code: str | None = None


# --- validating what a learner sends ------------------------------------------------------------


def parse_reports(body: Any) -> list[ReportIn]:
    """The reports of a request body ``{"reports": [...]}``; InvalidInput naming the field that is
    wrong (``reports[2].steps[0].status``) and what was expected."""
    if not isinstance(body, dict) or set(body) != {"reports"}:
        raise errors.InvalidInput('expected a JSON object {"reports": [...]}')
    reports = body["reports"]
    if not isinstance(reports, list) or not reports:
        raise errors.InvalidInput('"reports": expected a list of one report or more')
    if len(reports) > MAX_REPORTS_PER_REQUEST:
        raise errors.InvalidInput(
            f'"reports": {len(reports)} reports, the most in one request is '
            f"{MAX_REPORTS_PER_REQUEST}; send them in parts"
        )
    parsed = [_report(raw, f"reports[{i}]") for i, raw in enumerate(reports)]
    ids = [r.id for r in parsed]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise errors.InvalidInput(f"report ids sent twice in one request: {', '.join(repeated)}")
    return parsed


def _report(raw: Any, where: str) -> ReportIn:
    if not isinstance(raw, dict):
        raise errors.InvalidInput(f"{where}: expected a JSON object")
    _fields(raw, REPORT_FIELDS - {"code"}, REPORT_FIELDS, where)
    report_id = raw["id"]
    if not isinstance(report_id, str) or not REPORT_ID.fullmatch(report_id):
        raise errors.InvalidInput(
            f"{where}.id: expected 8 to 64 letters, digits, - or _; got {_shown(report_id)}"
        )
    lesson = raw["lesson"]
    if type(lesson) is not int or lesson not in LESSONS:
        raise errors.InvalidInput(
            f"{where}.lesson: expected one of {', '.join(map(str, LESSONS))}; got {_shown(lesson)}"
        )
    sha = raw["file_sha256"]
    if not isinstance(sha, str) or not SHA256.fullmatch(sha):
        raise errors.InvalidInput(
            f"{where}.file_sha256: expected 64 lower-case hex digits; got {_shown(sha)}"
        )
    if not isinstance(raw["quick"], bool):
        raise errors.InvalidInput(f"{where}.quick: expected true or false")
    steps = raw["steps"]
    if not isinstance(steps, list) or not steps:
        raise errors.InvalidInput(f"{where}.steps: expected a list of one step or more")
    parsed = tuple(_step(s, lesson, f"{where}.steps[{i}]") for i, s in enumerate(steps))
    names = [s.name for s in parsed]
    if len(set(names)) != len(names):
        raise errors.InvalidInput(f"{where}.steps: a step is named twice")
    code = raw.get("code")
    if code is not None and (not isinstance(code, str) or len(code) > MAX_CODE_CHARS):
        raise errors.InvalidInput(f"{where}.code: expected text of {MAX_CODE_CHARS} characters")
    return ReportIn(
        report_id, lesson, sha, _moment(raw["checked_at"], f"{where}.checked_at"), raw["quick"],
        parsed, code,
    )  # fmt: skip


def _step(raw: Any, lesson: int, where: str) -> StepIn:
    if not isinstance(raw, dict):
        raise errors.InvalidInput(f"{where}: expected a JSON object")
    _fields(raw, STEP_FIELDS, STEP_FIELDS, where)
    name, status, seconds, message = (raw[k] for k in ("name", "status", "seconds", "message"))
    if name not in STEP_NAMES[lesson]:
        raise errors.InvalidInput(
            f"{where}.name: {_shown(name)} is not a step of lesson {lesson}; its steps are "
            + ", ".join(repr(s) for s in STEP_NAMES[lesson])
        )
    if status not in STATUSES:
        raise errors.InvalidInput(
            f"{where}.status: expected one of {', '.join(STATUSES)}; got {_shown(status)}"
        )
    if type(seconds) not in (int, float) or not 0 <= seconds <= MAX_SECONDS:
        raise errors.InvalidInput(
            f"{where}.seconds: expected a number of seconds from 0 to {MAX_SECONDS:.0f}; "
            f"got {_shown(seconds)}"
        )
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
        raise errors.InvalidInput(
            f"{where}.message: expected text of at most {MAX_MESSAGE_CHARS} characters"
        )
    return StepIn(name, status, float(seconds), message)


def _fields(raw: dict, required: set[str], allowed: set[str], where: str) -> None:
    missing, unknown = sorted(required - set(raw)), sorted(set(raw) - allowed)
    if missing:
        raise errors.InvalidInput(f"{where}: missing {', '.join(missing)}")
    if unknown:
        raise errors.InvalidInput(
            f"{where}: unknown field {', '.join(unknown)}; expected {', '.join(sorted(allowed))}"
        )


def _moment(raw: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise errors.InvalidInput(
            f"{where}: expected an ISO 8601 time with its zone (2026-12-02T10:00:00Z); "
            f"got {_shown(raw)}"
        )
    return moment.astimezone(timezone.utc)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- recording -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    accepted: list[str]  # ids recorded now
    duplicates: list[str]  # ids recorded before: a resend, ignored
    late: list[str]  # of the accepted, those after their lesson's due date


def record_reports(
    db: Session, team: Team, reports: list[ReportIn], *, now: datetime, per_hour: int
) -> Recorded:
    """Record the reports of ``team`` not recorded before (run it under the write lock).

    Throttled when the team's reports of the last hour would pass ``per_hour`` (0: no limit);
    a resend costs nothing. The code is kept only while the tutors ask for it."""
    known = set(
        db.scalars(
            select(CourseReport.report_id).where(
                CourseReport.team_id == team.id,
                CourseReport.report_id.in_([r.id for r in reports]),
            )
        )
    )
    new = [r for r in reports if r.id not in known]
    if new and per_hour:
        _check_rate(db, team.id, len(new), now=now, per_hour=per_hour)
    if new:
        join(db, team, now=now)
    settings = course_settings(db)
    late = []
    for r in new:
        is_late = r.lesson in settings.due and now > settings.due[r.lesson]
        late += [r.id] if is_late else []
        db.add(
            CourseReport(
                team_id=team.id, report_id=r.id, lesson=r.lesson, file_sha256=r.file_sha256,
                checked_at=r.checked_at, received_at=now, quick=r.quick, late=is_late,
                code=r.code if settings.collect_code else None,
                steps=[CourseStep(name=s.name, status=s.status, seconds=s.seconds,
                                  message=s.message) for s in r.steps],
            )
        )  # fmt: skip
    return Recorded([r.id for r in new], sorted(known), late)


def _check_rate(db: Session, team_id: int, adding: int, *, now: datetime, per_hour: int) -> None:
    since = now - timedelta(hours=1)
    times = list(
        db.scalars(
            select(CourseReport.received_at)
            .where(CourseReport.team_id == team_id, CourseReport.received_at > since)
            .order_by(CourseReport.received_at)
        )
    )
    if len(times) + adding > per_hour:
        # The oldest report of the hour leaves the count first.
        wait = (times[0] + timedelta(hours=1) - now).total_seconds() if times else 3600
        raise errors.Throttled(
            f"too many reports: {len(times)} in the last hour and {adding} more, the most is "
            f"{per_hour} an hour; the outbox keeps them, send again later",
            retry_after=max(1, int(wait) + 1),
        )


def join(db: Session, team: Team, *, now: datetime) -> CourseLearner:
    """The team's place in the class, made with a fresh pseudonym on its first report."""
    learner = db.get(CourseLearner, team.id)
    if learner is None:
        taken = set(db.scalars(select(CourseLearner.pseudonym)))
        pseudonym = _new_pseudonym(taken)
        learner = CourseLearner(team_id=team.id, pseudonym=pseudonym, joined_at=now)
        db.add(learner)
        db.flush()
    return learner


def _new_pseudonym(taken: set[str]) -> str:
    while True:
        pseudonym = f"learner-{secrets.token_hex(3)}"
        if pseudonym not in taken:
            return pseudonym


# --- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CourseSettings:
    due: dict[int, datetime]  # lesson -> due date (UTC); lessons without one are absent
    collect_code: bool


def course_settings(db: Session) -> CourseSettings:
    rows = {
        s.name: s.value for s in db.scalars(select(Setting).where(Setting.name.like("course_%")))
    }
    due = {
        n: datetime.fromisoformat(rows[DUE_SETTING.format(lesson=n)])
        for n in LESSONS
        if rows.get(DUE_SETTING.format(lesson=n))
    }
    return CourseSettings(due=due, collect_code=rows.get(COLLECT_CODE) == "1")


def set_settings(db: Session, due: Mapping[int, datetime | None], collect_code: bool) -> None:
    """Set each lesson's due date (None: no due date) and whether learners send their code."""
    values = {DUE_SETTING.format(lesson=n): m.isoformat() if m else "" for n, m in due.items()}
    values[COLLECT_CODE] = "1" if collect_code else ""
    for name, value in values.items():
        row = db.get(Setting, name) or Setting(name=name)
        row.value = value
        db.add(row)


def parse_due(text: str, lesson: int) -> datetime | None:
    """A due date from the tutors' form (``2026-12-10T18:00``, UTC), None when empty."""
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise errors.InvalidInput(
            f"lesson {lesson}'s due date {text.strip()[:40]!r}: expected a date and time such "
            "as 2026-12-10T18:00 (UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# --- what is shown -------------------------------------------------------------------------------


@dataclass
class Cell:
    """One learner's one step, over every report: the latest status, and the story so far."""

    status: str = ""  # the latest report's; "" when never reported
    attempts: int = 0  # reports in which the step ran
    failures_in_a_row: int = 0  # failed reports since the last pass
    first_at: datetime | None = None  # when it first ran
    passed_at: datetime | None = None  # when it first passed
    failing_since: datetime | None = None  # the first failure of the current run of failures
    failing_received: datetime | None = None  # and when the site received it (its own clock)
    seconds: float = 0.0  # how long the step itself ran in the latest report
    message: str = ""  # what the checker told the learner in the latest report
    late: bool = False  # the latest report arrived after the lesson's due date
    report_pk: int | None = None  # the latest report's row, for the code sent with it
    has_code: bool = False

    @property
    def minutes_to_pass(self) -> float | None:
        """From the first run of the step to its first pass, in minutes."""
        if self.passed_at is None or self.first_at is None:
            return None
        return (self.passed_at - self.first_at).total_seconds() / 60


@dataclass
class LearnerRow:
    team_id: int
    name: str
    pseudonym: str
    last_activity: datetime | None = None
    cells: dict[tuple[int, str], Cell] = field(default_factory=dict)

    def passed(self, lesson: int) -> int:
        return sum(self.cell(lesson, s).status == "passed" for s in STEP_NAMES[lesson])

    def cell(self, lesson: int, step: str) -> Cell:
        return self.cells.get((lesson, step), Cell())


@dataclass(frozen=True)
class Stuck:
    learner: LearnerRow
    lesson: int
    step: str
    cell: Cell


def class_rows(db: Session) -> list[LearnerRow]:
    """Every learner with each step's cell, in the order they joined."""
    learners = db.execute(
        select(CourseLearner, Team.name)
        .join(Team, Team.id == CourseLearner.team_id)
        .order_by(CourseLearner.joined_at, CourseLearner.team_id)
    ).all()
    rows = {ln.team_id: LearnerRow(ln.team_id, name, ln.pseudonym) for ln, name in learners}
    reports = db.scalars(
        select(CourseReport)
        .options(selectinload(CourseReport.steps))
        .order_by(CourseReport.checked_at, CourseReport.id)
    )
    for report in reports:
        row = rows.get(report.team_id)
        if row is not None:
            _add_report(row, report)
    return list(rows.values())


def learner_row(db: Session, team: Team) -> LearnerRow | None:
    """One learner's own row (what the learner's API answers), None before the first report."""
    learner = db.get(CourseLearner, team.id)
    if learner is None:
        return None
    row = LearnerRow(team.id, team.name, learner.pseudonym)
    reports = db.scalars(
        select(CourseReport)
        .options(selectinload(CourseReport.steps))
        .where(CourseReport.team_id == team.id)
        .order_by(CourseReport.checked_at, CourseReport.id)
    )
    for report in reports:
        _add_report(row, report)
    return row


def _add_report(row: LearnerRow, report: CourseReport) -> None:
    if row.last_activity is None or report.received_at > row.last_activity:
        row.last_activity = report.received_at
    for step in report.steps:
        cell = row.cells.setdefault((report.lesson, step.name), Cell())
        if step.status in RAN:
            cell.attempts += 1
            cell.first_at = cell.first_at or report.checked_at
        if step.status == "passed":
            cell.passed_at = cell.passed_at or report.checked_at
            cell.failures_in_a_row, cell.failing_since, cell.failing_received = 0, None, None
        elif step.status == "failed":
            cell.failures_in_a_row += 1
            cell.failing_since = cell.failing_since or report.checked_at
            cell.failing_received = cell.failing_received or report.received_at
        cell.status, cell.seconds, cell.message = step.status, step.seconds, step.message
        cell.late, cell.report_pk, cell.has_code = report.late, report.id, report.code is not None


def stuck(rows: list[LearnerRow], *, now: datetime, attempts: int, minutes: float) -> list[Stuck]:
    """The steps whose latest report failed, after ``attempts`` failures in a row or ``minutes``
    of failing (by the site's clock): the learners a tutor should walk over to, longest stuck
    first."""
    found = [
        Stuck(row, lesson, step, cell)
        for row in rows
        for (lesson, step), cell in row.cells.items()
        if cell.status == "failed"
        and (
            cell.failures_in_a_row >= attempts
            or (now - cell.failing_received).total_seconds() >= minutes * 60
        )
    ]
    return sorted(found, key=lambda s: (s.cell.failing_since, s.learner.pseudonym))


def csv_rows(rows: list[LearnerRow]) -> tuple[list[str], list[list[object]]]:
    """The matrix for a grade book: one row per learner; per lesson the steps passed and whether
    a report came late, then each step's latest status."""
    header = ["team", "pseudonym", "last_activity"]
    for n in LESSONS:
        header += [f"lesson {n} passed", f"lesson {n} late"]
        header += [f"lesson {n}: {step}" for step in STEP_NAMES[n]]
    body = []
    for row in rows:
        line: list[object] = [row.name, row.pseudonym, row.last_activity]
        for n in LESSONS:
            late = any(row.cell(n, s).late for s in STEP_NAMES[n])
            line += [f"{row.passed(n)} of {len(STEP_NAMES[n])}", "late" if late else ""]
            line += [row.cell(n, s).status for s in STEP_NAMES[n]]
        body.append(line)
    return header, body


def pseudonym_of(db: Session, team_id: int) -> str | None:
    learner = db.get(CourseLearner, team_id)
    return learner.pseudonym if learner else None
