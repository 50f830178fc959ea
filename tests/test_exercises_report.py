"""`exercises check --report`: each check's step results go to the course's site, through an
outbox in the learner's folder that keeps what could not be sent until the next report."""

from __future__ import annotations

import importlib

import pytest

from exercises.lessons import LESSONS, STEP_NAMES


@pytest.mark.parametrize("number", sorted(LESSONS))
def test_the_step_names_the_site_takes_are_the_checks_own(number):
    steps = importlib.import_module(f"exercises.checks.lesson{number}").STEPS
    assert STEP_NAMES[number] == tuple(step.name for step in steps)
