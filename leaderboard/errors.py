"""The leaderboard's rules, refused: one error per broken rule, each carrying what the user needs.

The rules (``uploads``, ``actions``, ``final``, ``jobs``) raise these and know nothing of HTTP or
of the terminal. Two mappings turn them into answers: ``leaderboard.forms.http_error`` (status
code and Retry-After, for the pages and the API) and ``leaderboard.cli.with_app`` (one line and
exit status 1). Each family below is one kind of answer; the subclasses say which rule.
"""

from __future__ import annotations

from datetime import datetime


class RuleError(Exception):
    """A rule of the leaderboard refused a request; ``str(error)`` says what and what to do."""

    @property
    def message(self) -> str:
        return str(self)


# The families: each maps to one kind of answer (see leaderboard.forms.HTTP_STATUS).


class InvalidInput(RuleError, ValueError):
    """What was sent is not what the rule takes (a bad name, note, file or count)."""


class WrongCredential(RuleError):
    """A token is missing or wrong."""


class Forbidden(RuleError):
    """The rule forbids this now or for this team (a closed window, a disqualified team)."""


class NotFound(RuleError, LookupError):
    """The team or submission named does not exist, or is not the asker's."""


class Conflict(RuleError):
    """The request clashes with what is recorded (a file already sent, a name taken)."""


class TooLarge(RuleError):
    """The upload is larger than its limit."""

    def __init__(self, message: str, *, limit: int):
        super().__init__(message)
        self.limit = limit


class Throttled(RuleError):
    """Too many of something; ``retry_after`` (seconds) says when to try again, if known."""

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# The rules of the submission window and the quota.


def utc_minute(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


class NotOpenYet(Forbidden):
    def __init__(self, open_at: datetime):
        super().__init__(f"submissions open at {utc_minute(open_at)}")
        self.open_at = open_at


class WindowClosed(Forbidden):
    def __init__(self, close_at: datetime):
        super().__init__(f"submissions closed at {utc_minute(close_at)}")
        self.close_at = close_at


class Disqualified(Forbidden):
    def __init__(self, reason: str):
        super().__init__(f"your team is disqualified: {reason}")
        self.reason = reason


class QuotaReached(Throttled):
    def __init__(self, quota: int):
        super().__init__(
            f"daily quota reached: {quota} of {quota} submissions today; "
            "the count starts again at 00:00 UTC"
        )
        self.quota = quota


class RefusedLimitReached(Throttled):
    """The team's invalid uploads of today reached REFUSED_PER_DAY: every upload is refused,
    before any check, until the next UTC day."""

    def __init__(self, limit: int, retry_after: int):
        super().__init__(
            f"too many refused uploads: {limit} of your team's uploads were refused as invalid "
            f"today, the most allowed is {limit}; no upload is taken until 00:00 UTC (in "
            f"{retry_after} s). Check a file before sending it: `challenge validate` (a "
            "prediction file) or `challenge check-model` (a model)",
            retry_after=retry_after,
        )
        self.limit = limit


class AlreadySent(Conflict):
    """The team sent this very file before: it is neither scored again nor counted."""

    def __init__(self, submission_id: int, created_at: datetime, sha256: str):
        super().__init__(
            f"this file is the same as your submission #{submission_id} of "
            f"{utc_minute(created_at)} (sha256 {sha256[:12]}...); it was not "
            "scored again and does not count against your quota"
        )
        self.submission_id, self.created_at, self.sha256 = submission_id, created_at, sha256


# The rules of finals.


class FinalsFrozen(Forbidden):
    """The first reveal showed the private scores: the finals are frozen, an undo included."""

    def __init__(self, since: datetime) -> None:
        super().__init__(
            f"finals were frozen when the final ranking was first revealed "
            f"({since:%Y-%m-%d %H:%M} UTC); they can no longer change"
        )
        self.since = since


class NotFinalable(Conflict):
    """A submission that cannot count: late, or without a score (queued, running, failed)."""

    def __init__(self, submission_id: int, why: str):
        super().__init__(f"submission #{submission_id} {why}")
        self.submission_id, self.why = submission_id, why


# The rules of registration.


class RegistrationClosed(Forbidden):
    def __init__(self) -> None:
        super().__init__("registration is closed; ask the organizers to add your team")


class UnknownInvite(Forbidden):
    def __init__(self, code: str):
        super().__init__(f"unknown invite code {code.strip()[:40]!r}")


class InviteUsed(Conflict):
    def __init__(self) -> None:
        super().__init__("this invite code was already used; each code registers one team")
