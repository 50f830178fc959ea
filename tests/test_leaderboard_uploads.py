"""Receiving an upload (``leaderboard.uploads``): the rules it checks, again under the write lock,
and what it costs the database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from leaderboard import db, errors, queries, shared_files, uploads
from leaderboard.db import session_scope
from leaderboard.models import Submission
from tests import onnx_models
from tests.conftest import Api
from tests.test_leaderboard_jobs import (  # noqa: F401 (fixtures)
    models_config,
    private_data,
    register,
    upload,
)


def team_of(app, name: str):
    with session_scope(app) as session:
        return queries.team_by_name(session, name)


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


def test_a_model_upload_opens_at_most_three_database_sessions(
    models_config,  # noqa: F811
    make_app,
    monkeypatch,
):
    app = make_app(models_config)
    client = app.test_client()
    token = register(client)
    opened = []
    sessions = db.sessions_of(app)
    monkeypatch.setattr(db, "sessions_of", lambda app: lambda: opened.append(1) or sessions())
    response = upload(client, token, onnx_models.mean_model().SerializeToString())
    assert response.status_code == 202, response.get_json()
    # the token's team, the checks before the model check, the queued row with the model for the
    # workers under the write lock (the queue is huey's own database)
    assert len(opened) == 3
    with session_scope(app) as session:
        (row,) = session.scalars(select(Submission)).all()
        assert shared_files.get(session, row.sha256, shared_files.MODEL) == (
            onnx_models.mean_model().SerializeToString()
        )


def test_the_quota_is_checked_again_under_the_write_lock(app, api):
    """Two uploads at once both pass the first check with one upload left; the row's own check,
    under the write lock, refuses the second. ``record`` is that second upload's last step."""
    token = api.register("alpha")
    for seed in range(app.config["DAILY_QUOTA"]):
        assert api.submit(token, api.submission(seed=seed)).status_code == 201
    team = team_of(app, "alpha")
    late_twin = api.submission(seed=99)
    with pytest.raises(errors.QuotaReached) as refused:  # no app context: the app is passed
        uploads.record(team, late_twin, name="sub.csv", note="", app=app)
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
    with pytest.raises(errors.WindowClosed, match="submissions closed at"):
        uploads.record(team, api.submission(seed=1), name="sub.csv", note="", app=app)
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


INVALID = b"event_id,score\n1,not-a-number\n"


def refused_count(app, name: str) -> int:
    with session_scope(app) as session:
        return queries.refused_today(session, team_of(app, name).id, now=app.config["NOW"]())


@pytest.fixture
def strict_app(app_config, make_app):
    """At most three uploads refused as invalid a day per team, and room in the quota."""
    app_config.update(REFUSED_PER_DAY=3, DAILY_QUOTA=10)
    return make_app(app_config)


def test_past_the_refused_limit_every_upload_is_refused_before_any_check(
    strict_app, clock, answer_key, monkeypatch
):
    api = Api(strict_app.test_client(), answer_key)
    token = api.register("alpha")
    for seed in range(3):
        refused = api.submit(token, INVALID + b"%d" % seed)
        assert refused.status_code == 400, refused.get_json()
    assert refused_count(strict_app, "alpha") == 3

    graded = []
    grade = uploads.grading.grade
    monkeypatch.setattr(
        uploads.grading, "grade", lambda *a, **k: graded.append(1) or grade(*a, **k)
    )
    # 400 kB of an invalid row (the test client would spool a larger file to an unclosed disk file)
    huge = INVALID + b"9," * 200_000
    # 09:30 UTC: 14 h 30 min to the next UTC day
    for data in (INVALID + b"again", huge, api.submission(seed=1)):
        response = api.submit(token, data)
        assert response.status_code == 429, response.get_json()
        assert response.headers["Retry-After"] == str(14 * 3600 + 30 * 60)
        assert response.get_json()["error"] == (
            "too many refused uploads: 3 of your team's uploads were refused as invalid today, "
            "the most allowed is 3; no upload is taken until 00:00 UTC (in 52200 s). Check a "
            "file before sending it: `challenge validate` (a prediction file) or `challenge "
            "check-model` (a model)"
        )
    assert graded == []  # neither the valid file nor the huge invalid one was parsed
    assert refused_count(strict_app, "alpha") == 3  # and they cost nothing more
    assert count_rows(strict_app) == 0

    other = api.register("beta")  # the count is the team's own
    assert api.submit(other, INVALID).status_code == 400
    assert api.submit(other, api.submission(seed=2)).status_code == 201
    assert refused_count(strict_app, "beta") == 1

    clock.now = datetime(2026, 3, 3, 0, 0, tzinfo=timezone.utc)  # the next UTC day
    assert api.submit(token, api.submission(seed=3)).status_code == 201
    assert api.submit(token, INVALID).status_code == 400
    assert refused_count(strict_app, "alpha") == 1


def test_the_last_refusal_before_the_limit_is_still_checked(strict_app, clock, answer_key):
    """Accepted uploads do not count; two refusals leave the third one to validation (400)."""
    api = Api(strict_app.test_client(), answer_key)
    token = api.register("alpha")
    for seed in range(2):
        assert api.submit(token, INVALID + b"%d" % seed).status_code == 400
        assert api.submit(token, api.submission(seed=seed)).status_code == 201
    assert refused_count(strict_app, "alpha") == 2
    clock.advance(hours=14, minutes=29, seconds=59)  # 23:59:59 of the same UTC day
    assert api.submit(token, INVALID + b"last").status_code == 400
    response = api.submit(token, api.submission(seed=5))
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_no_refused_limit_when_it_is_zero(app_config, make_app, answer_key):
    app_config.update(REFUSED_PER_DAY=0)
    api = Api(make_app(app_config).test_client(), answer_key)
    token = api.register("alpha")
    for seed in range(5):
        assert api.submit(token, INVALID + b"%d" % seed).status_code == 400
    assert api.submit(token, api.submission()).status_code == 201


def test_refused_models_count_too(models_config, make_app, clock):  # noqa: F811
    """In models mode a refused model (or prediction file) counts; a good model waits for the
    next UTC day."""
    app = make_app(models_config | {"REFUSED_PER_DAY": 2})
    client = app.test_client()
    token = register(client)
    assert upload(client, token, onnx_models.mean_model(32).SerializeToString()).status_code == 400
    assert upload(client, token, b"event_id,score\n1,0.5\n", "sub.csv").status_code == 400
    good = onnx_models.mean_model().SerializeToString()
    response = upload(client, token, good)
    assert response.status_code == 429 and "the most allowed is 2" in response.get_json()["error"]
    clock.advance(days=1)
    assert upload(client, token, good).status_code == 202
