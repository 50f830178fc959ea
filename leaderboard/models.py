"""The database tables, one ORM class each: teams, their submissions, settings, log-in sessions,
registrations, invite codes, wrong-token counts, refused uploads per team and day, the stored final rankings, the organizers' audit log, the board's version
counter and the files that workers read (models, their scores, the answer key, test.root); and
the course: its learners and the step results their checks report."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every backend (SQLite stores no zone, so it is restored on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the leaderboard stores UTC times only")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class Team(Base):
    """A team, or a reference row (baseline, physics reference) that is shown but never ranked."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # NFKC-normalised, case-folded name: "Team A" and "ｔｅａｍ a" are the same team.
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    # sha256 of the token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_reference: Mapped[bool] = mapped_column(Boolean, default=False)
    disqualified_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    submissions: Mapped[list[Submission]] = relationship(
        back_populates="team", order_by="Submission.id"
    )


# What a submission is: a prediction file (scored as it is uploaded) or a model (scored by a worker).
KINDS = ("predictions", "model")
# queued -> running -> scored | failed; a prediction file is scored on upload.
STATUSES = ("queued", "running", "scored", "failed")
SCORED = "scored"  # the only status with scores: what boards, finals and exports read
PENDING = ("queued", "running")  # not scored yet, and may still be: the reveal waits for these


class Submission(Base):
    """One accepted file: where it is stored, what it was, and, once scored, its scores on both
    splits. Only ``status == "scored"`` rows have scores; the others have None there."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    filename: Mapped[str] = mapped_column(String(200))  # as uploaded, for display only
    note: Mapped[str] = mapped_column(String(400), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # of the uploaded file
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16), default="predictions")  # one of KINDS
    status: Mapped[str] = mapped_column(String(16), default="scored", index=True)  # of STATUSES
    # Why a model failed, in words that name only the model's own content and the limits.
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # The stored prediction file the scores come from: the upload itself, or what the worker
    # wrote from a model's output (event_id, score); None until scored.
    scores_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When a worker claimed a model (status "running"): `leaderboard requeue` puts a row back
    # on the queue when its worker has been at it far longer than a model may run (it died).
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    n_rows: Mapped[int | None] = mapped_column(Integer, default=None)
    public_auc: Mapped[float | None] = mapped_column(Float, default=None)
    public_lo: Mapped[float | None] = mapped_column(Float, default=None)
    public_hi: Mapped[float | None] = mapped_column(Float, default=None)
    private_auc: Mapped[float | None] = mapped_column(Float, default=None)
    private_lo: Mapped[float | None] = mapped_column(Float, default=None)
    private_hi: Mapped[float | None] = mapped_column(Float, default=None)
    is_final: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether it beat the team's best so far on the public split (leaderboard.ladder), decided
    # when it was scored; None until then. A Ladder board shows only accepted public scores.
    ladder_accepted: Mapped[bool | None] = mapped_column(Boolean, default=None)
    disqualified_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # Uploaded after the close (LEADERBOARD_LATE_SUBMISSIONS=1): scored, listed apart, never ranked.
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)

    team: Mapped[Team] = relationship(back_populates="submissions")


class Setting(Base):
    """A named value that the organizers change at run time (the reveal) or a lock row."""

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class LoginSession(Base):
    """A browser logged in as a team or as the organizer (``team_id`` None).

    The cookie holds a random id; the table holds its sha256, so that deleting the row (log-out,
    a new token) ends every copy of the cookie at once.
    """

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), index=True, default=None
    )
    # A hash of the credential used to log in: a session ends when the credential changes.
    credential_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Registration(Base):
    """A team that registered itself, and from which client address: the hourly limit's count."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Invite(Base):
    """A one-use invite code from `leaderboard invite`, stored as its sha256, and who used it."""

    __tablename__ = "invites"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), default=None)


class TokenFailures(Base):
    """Wrong credentials (team token, organizer token, invite code) from one client address: the
    throttle's count, and what /admin lists for the organizers."""

    __tablename__ = "token_failures"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_kind: Mapped[str] = mapped_column(String(32))


class RefusedUploads(Base):
    """How many uploads of a team were refused (an invalid file) on one UTC day: past
    REFUSED_PER_DAY, the team's uploads are refused before any check until the next day."""

    __tablename__ = "refused_uploads"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class FinalRanking(Base):
    """The final ranking as revealed, with every number it shows (JSON); the newest one is shown.

    Written by the reveal, and again only by an organizer's re-ranking (see ``AuditEntry``).
    """

    __tablename__ = "final_rankings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)


class AuditEntry(Base):
    """What the organizers did to the final ranking, when and why (reveal, undo, re-rank)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class BoardVersion(Base):
    """One row whose counter goes up in every transaction that changes what a board shows,
    so that each server process knows with one cheap query whether its cached board is stale."""

    __tablename__ = "board_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class CourseLearner(Base):
    """A team (one learner or a few) that reported a lesson check: the course's class list.

    ``pseudonym`` is what other learners see instead of the team's name (leaderboard.course)."""

    __tablename__ = "course_learners"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    pseudonym: Mapped[str] = mapped_column(String(40), unique=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CourseReport(Base):
    """One `exercises check --report` of one lesson file: sent with an id of the learner's making,
    so that a resent report (the outbox catching up) is recorded once."""

    __tablename__ = "course_reports"
    __table_args__ = (UniqueConstraint("team_id", "report_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[str] = mapped_column(String(64))
    lesson: Mapped[int] = mapped_column(Integer)
    file_sha256: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the learner's clock
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the server's
    quick: Mapped[bool] = mapped_column(Boolean, default=False)
    # Received after the lesson's due date: recorded all the same, and shown as late.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # The learner's file, only while the tutors ask for it (the course_collect_code setting).
    code: Mapped[str | None] = mapped_column(Text, default=None)

    steps: Mapped[list[CourseStep]] = relationship(
        back_populates="report", order_by="CourseStep.id", cascade="all, delete-orphan"
    )


class CourseStep(Base):
    """One step of a reported check: passed, failed, skipped or not run, how long it ran, and the
    message the checker gave the learner (the hint a tutor reads)."""

    __tablename__ = "course_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_pk: Mapped[int] = mapped_column(
        ForeignKey("course_reports.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    seconds: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")

    report: Mapped[CourseReport] = relationship(back_populates="steps")


class StoredFile(Base):
    """A file that workers read, gzip-compressed and named by the sha256 of its bytes: a model,
    the scores a worker wrote from one, or the challenge's answer key, metric or test.root
    (``leaderboard.shared_files``). No page or route ever reads this table."""

    __tablename__ = "stored_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # one of shared_files.KINDS
    size_bytes: Mapped[int] = mapped_column(BigInteger)  # before compression
    data: Mapped[bytes] = mapped_column(LargeBinary)  # gzip
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
