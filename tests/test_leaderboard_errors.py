"""The rules' errors (``leaderboard.errors``) and their two mappings: to HTTP and to the terminal."""

from __future__ import annotations

import inspect
from datetime import datetime, timezone

import pytest

from leaderboard import errors
from leaderboard.forms import HTTP_STATUS, http_error

MOMENT = datetime(2026, 3, 6, 12, 0, tzinfo=timezone.utc)

# One instance of every error the rules raise, with the status the API documents for it.
EXAMPLES = [
    (errors.NotOpenYet(MOMENT), 403, "submissions open at 2026-03-06 12:00 UTC"),
    (errors.WindowClosed(MOMENT), 403, "submissions closed at 2026-03-06 12:00 UTC"),
    (errors.Disqualified("copied"), 403, "your team is disqualified: copied"),
    (errors.QuotaReached(5), 429,
     "daily quota reached: 5 of 5 submissions today; the count starts again at 00:00 UTC"),
    (errors.AlreadySent(7, MOMENT, "ab" * 32), 409,
     "this file is the same as your submission #7 of 2026-03-06 12:00 UTC (sha256 abababababab...); "
     "it was not scored again and does not count against your quota"),
    (errors.FinalsFrozen(MOMENT), 403, "finals were frozen when the final ranking was first "
     "revealed (2026-03-06 12:00 UTC); they can no longer change"),
    (errors.NotFinalable(3, "failed: it has no score and cannot count"), 409,
     "submission #3 failed: it has no score and cannot count"),
    (errors.RegistrationClosed(), 403,
     "registration is closed; ask the organizers to add your team"),
    (errors.UnknownInvite("  abc "), 403, "unknown invite code 'abc'"),
    (errors.InviteUsed(), 409, "this invite code was already used; each code registers one team"),
    (errors.TooLarge("too big", limit=10), 413, "too big"),
    (errors.Throttled("slow down", retry_after=8), 429, "slow down"),
    (errors.RefusedLimitReached(3, 60), 429,
     "too many refused uploads: 3 of your team's uploads were refused as invalid today, the most "
     "allowed is 3; no upload is taken until 00:00 UTC (in 60 s). Check a file before sending it: "
     "`challenge validate` (a prediction file) or `challenge check-model` (a model)"),
    (errors.WrongCredential("wrong organizer token"), 401, "wrong organizer token"),
    (errors.NotFound("no team with id 4"), 404, "no team with id 4"),
    (errors.InvalidInput("bad note"), 400, "bad note"),
]  # fmt: skip


@pytest.mark.parametrize(("error", "status", "message"), EXAMPLES)
def test_each_error_is_answered_with_its_status_and_its_message(error, status, message):
    answer = http_error(error)
    assert (answer.code, answer.description) == (status, message)
    assert str(error) == message


def test_every_error_belongs_to_exactly_one_family():
    raised = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.RuleError) and cls is not errors.RuleError
    ]
    for cls in raised:
        families = [family for family in HTTP_STATUS if issubclass(cls, family)]
        assert len(families) == 1, (cls, families)
    assert {type(error) for error, _, _ in EXAMPLES} >= set(raised) - set(HTTP_STATUS)


def test_a_throttled_answer_says_when_to_try_again():
    answer = http_error(errors.QuotaReached(3))
    assert answer.retry_after is None
    assert http_error(errors.Throttled("wait", retry_after=8)).retry_after == 8


def test_the_cli_prints_the_rule_and_exits_1(runner, clock):
    first = runner.invoke(["add-team", "alpha"])
    assert first.exit_code == 0, first.output
    taken = runner.invoke(["add-team", "ALPHA"])
    assert taken.exit_code == 1
    assert taken.output == "Error: the team name 'ALPHA' is already taken\n"
    count = runner.invoke(["invite", "--count", "0"])
    assert count.exit_code == 1
    assert count.output == "Error: --count must be at least 1, got 0\n"
