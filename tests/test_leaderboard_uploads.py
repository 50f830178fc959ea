"""Receiving an upload (``leaderboard.uploads``): the rules it checks, again under the write lock,
and what it costs the database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from leaderboard import db, errors, queries, uploads
from leaderboard.db import session_scope
from leaderboard.models import Submission


def team_of(app, name: str):
    with session_scope(app) as session:
        return queries.team_by_name(session, name)


def rules(app) -> dict:
    return {"config": app.config, "clock": app.config["NOW"]}


def count_rows(app) -> int:
    with session_scope(app) as session:
        return session.scalar(select(func.count()).select_from(Submission))


def test_an_upload_opens_at_most_three_database_sessions(app, api, monkeypatch):
    token = api.register("alpha")
    opened = []
    sessions = db.sessions_of(app)
    monkeypatch.setattr(db, "sessions_of", lambda app: lambda: opened.append(1) or sessions())
    response = api.submit(token, api.submission())
    assert response.status_code == 201, response.get_json()
    # the token's team, the checks before scoring, the row under the write lock
    assert len(opened) == 3


def test_the_quota_is_checked_again_under_the_write_lock(app, api):
    """Two uploads at once both pass the first check with one upload left; the row's own check,
    under the write lock, refuses the second. ``record`` is that second upload's last step."""
    token = api.register("alpha")
    for seed in range(app.config["DAILY_QUOTA"]):
        assert api.submit(token, api.submission(seed=seed)).status_code == 201
    team = team_of(app, "alpha")
    late_twin = api.submission(seed=99)
    with app.app_context(), pytest.raises(errors.QuotaReached) as refused:
        uploads.record(team, late_twin, name="sub.csv", note="", **rules(app))
    assert str(refused.value) == (
        "daily quota reached: 3 of 3 submissions today; the count starts again at 00:00 UTC"
    )
    assert count_rows(app) == app.config["DAILY_QUOTA"]


def test_the_window_is_checked_again_under_the_write_lock(app, api, clock):
    """The reveal (or the close) may come while a file is being scored: its row is refused."""
    token = api.register("alpha")
    assert api.submit(token, api.submission()).status_code == 201
    app.config["CLOSE_AT"] = clock.now + timedelta(seconds=1)
    team = team_of(app, "alpha")
    clock.advance(seconds=1)
    with app.app_context(), pytest.raises(errors.WindowClosed, match="submissions closed at"):
        uploads.record(team, api.submission(seed=1), name="sub.csv", note="", **rules(app))
    assert count_rows(app) == 1


def test_is_late_answers_and_refuses_nothing(app, clock):
    close = datetime(2026, 3, 6, 12, 0, tzinfo=timezone.utc)
    app.config["CLOSE_AT"] = close
    app.config["LATE_SUBMISSIONS"] = False
    with session_scope(app) as session:
        assert not uploads.is_late(session, close - timedelta(seconds=1), config=app.config)
        assert uploads.is_late(session, close, config=app.config)
        with pytest.raises(errors.WindowClosed):
            uploads.check_window(session, close, config=app.config)
