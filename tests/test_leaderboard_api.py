"""The JSON API of the leaderboard: every status the issue lists, with the exact messages."""

from __future__ import annotations

import gzip
import hashlib
import io
from datetime import datetime, timezone

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import select

from challenge.metrics import roc_auc_ci
from challenge.submission import read_submission
from leaderboard.db import session_scope
from leaderboard.models import Submission, Team


def split_auc(key, data: bytes, split: str):
    table = read_submission(data).set_index("event_id")["score"]
    part = key[key["split"] == split]
    return part["label"].to_numpy(), table.reindex(part["event_id"]).to_numpy()


def test_register_returns_token_stored_only_as_hash(app, client):
    response = client.post("/api/teams", json={"name": "  Quarks   United "})
    assert response.status_code == 201
    body = response.get_json()
    assert body["team"] == "Quarks United"
    token = body["token"]
    assert len(token) >= 32
    with session_scope(app) as db:
        team = db.scalar(select(Team))
        columns = [str(getattr(team, c.key)) for c in Team.__table__.columns]
    assert team.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in value for value in columns)


@pytest.mark.parametrize(
    ("duplicate", "shown"),
    [
        ("alpha", "alpha"),
        ("ALPHA", "ALPHA"),
        ("ａｌｐｈａ", "alpha"),  # fullwidth, NFKC-normalised
        (" alpha ", "alpha"),
        ("аlpha", "аlpha"),  # Cyrillic а
        ("ΑLPHΑ", "ΑLPHΑ"),  # Greek Α
    ],
)
def test_register_taken_name_is_409(api, client, duplicate, shown):
    api.register("alpha")
    response = client.post("/api/teams", json={"name": duplicate})
    assert response.status_code == 409
    assert response.get_json() == {"error": f"the team name {shown!r} is already taken"}


def test_register_closed_is_403(app_config, client, app):
    app.config["REGISTRATION"] = "closed"
    response = client.post("/api/teams", json={"name": "late"})
    assert response.status_code == 403
    assert "registration is closed" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "expected a JSON object body"),
        ([1, 2], "expected a JSON object body"),
        ({"nom": "x"}, 'expected {"name": "<team name>"}'),
        ({"name": 5}, 'expected {"name": "<team name>"}'),
        ({"name": "   "}, "the team name is empty"),
        ({"name": "a\u202eb"}, "invisible or control character U+202E at position 2"),
        ({"name": "x" * 41}, "the team name is 41 characters long; at most 40 are allowed"),
    ],
)
def test_register_bad_input_is_400(client, body, message):
    if body is None:
        response = client.post("/api/teams", data="name=x", content_type="text/plain")
    else:
        response = client.post("/api/teams", json=body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_submit_scores_public_split_at_once(app, api, answer_key):
    token = api.register("alpha")
    data = api.submission(skill=1.0, seed=3)
    response = api.submit(token, data, note="first try")
    assert response.status_code == 201
    body = response.get_json()
    labels, scores = split_auc(answer_key, data, "public")
    assert body["public_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    expected = roc_auc_ci(labels, scores)
    assert body["public_auc_ci"] == pytest.approx([expected.lo, expected.hi], abs=1e-12)
    assert body["remaining_today"] == 2
    assert body["id"] == 1 and body["rows"] == len(answer_key)
    assert not any("private" in key for key in body)
    # The private AUC is computed and stored at once.
    labels, scores = split_auc(answer_key, data, "private")
    with session_scope(app) as db:
        stored = db.get(Submission, 1)
    assert stored.private_auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert stored.note == "first try"


def test_accepted_file_is_kept_gzipped_under_its_hash(app, api, tmp_path):
    token = api.register("alpha")
    data = api.submission()
    response = api.submit(token, data, filename="../../../evil.csv")
    assert response.status_code == 201
    sha = hashlib.sha256(data).hexdigest()
    assert response.get_json()["sha256"] == sha
    stored = tmp_path / "submissions" / sha[:2] / f"{sha}.csv.gz"
    assert gzip.decompress(stored.read_bytes()) == data
    names = [p.name for p in tmp_path.rglob("*")]
    assert "evil.csv" not in names
    assert not [n for n in names if n.startswith(".incoming")]
    with session_scope(app) as db:
        row = db.get(Submission, 1)
    assert (row.sha256, row.size_bytes, row.n_rows, row.filename) == (
        sha,
        len(data),
        40,
        "evil.csv",
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}, {"Authorization": ""}],
)
def test_submit_without_valid_token_is_401(api, client, headers):
    api.register("alpha")
    response = client.post(
        "/api/submissions",
        data={"file": (io.BytesIO(api.submission()), "s.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 401
    assert "token" in response.get_json()["error"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"id,score\n1,0.5\n",
        b"event_id;score\n1;0.5\n",
        b"\x00\x01\x02binary",
        "event_id,score\n1,0.5\n".encode("utf-16"),
    ],
)
def test_bad_file_is_400_with_the_validators_message(api, answer_key, data):
    from challenge.submission import SubmissionError

    token = api.register("alpha")
    with pytest.raises(SubmissionError) as expected:
        read_submission(data, expected_ids=answer_key["event_id"].to_numpy(), name="bad.csv")
    response = api.submit(token, data, filename="bad.csv")
    assert response.status_code == 400
    assert response.get_json() == {"error": str(expected.value)}


def test_missing_ids_and_nan_are_400(api, answer_key):
    token = api.register("alpha")
    lines = api.submission().decode().splitlines()
    assert api.submit(token, "\n".join(lines[:-1]).encode()).status_code == 400
    nan = "\n".join(lines[:-1] + [lines[-1].split(",")[0] + ",nan"]).encode()
    response = api.submit(token, nan)
    assert response.status_code == 400
    assert "line" in response.get_json()["error"]


def test_missing_file_field_is_400(api, client):
    token = api.register("alpha")
    response = client.post(
        "/api/submissions", data={"note": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "no file: send the submission CSV in the multipart field 'file'"
    }


def test_too_large_is_413(app, api, client):
    app.config["MAX_UPLOAD_BYTES"] = 500
    token = api.register("alpha")
    data = api.submission()
    assert len(data) > 500
    response = api.submit(token, data)
    assert response.status_code == 413
    assert response.get_json() == {"error": "the file is larger than the limit of 500 bytes"}
    # A body over MAX_CONTENT_LENGTH is refused by Flask before the form is parsed, still as JSON.
    app.config["MAX_CONTENT_LENGTH"] = 1500
    response = api.submit(token, data + b" " * 2000)
    assert response.status_code == 413
    assert response.get_json() == {"error": "the upload is larger than the limit of 500 bytes"}
    with session_scope(app) as db:
        assert db.scalar(select(Submission)) is None


def test_quota_counts_accepted_files_per_utc_day(api, clock):
    token = api.register("alpha")
    clock.now = datetime(2026, 3, 2, 23, 59, 57, tzinfo=timezone.utc)
    for seed in range(3):
        assert api.submit(token, b"not a csv").status_code == 400  # rejected: not counted
        response = api.submit(token, api.submission(seed=seed))
        assert response.status_code == 201
        assert response.get_json()["remaining_today"] == 2 - seed
        clock.advance(microseconds=500_000)
    clock.now = datetime(2026, 3, 2, 23, 59, 59, 999_999, tzinfo=timezone.utc)
    response = api.submit(token, api.submission(seed=9))
    assert response.status_code == 429
    assert response.get_json() == {
        "error": "daily quota reached: 3 of 3 submissions today; "
        "the count starts again at 00:00 UTC"
    }
    clock.now = datetime(2026, 3, 3, 0, 0, 0, tzinfo=timezone.utc)
    response = api.submit(token, api.submission(seed=9))
    assert response.status_code == 201
    assert response.get_json()["remaining_today"] == 2


def test_quota_is_per_team(api):
    first, second = api.register("alpha"), api.register("beta")
    for seed in range(3):
        assert api.submit(first, api.submission(seed=seed)).status_code == 201
    assert api.submit(first, api.submission(seed=5)).status_code == 429
    assert api.submit(second, api.submission(seed=5)).status_code == 201


def test_quota_uses_utc_not_local_offset(api, clock):
    token = api.register("alpha")
    # 01:30 at UTC+02:00 is 23:30 UTC of the day before.
    from datetime import timedelta

    clock.now = datetime(2026, 3, 3, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    for seed in range(3):
        assert api.submit(token, api.submission(seed=seed)).status_code == 201
    clock.now = datetime(2026, 3, 3, 0, 0, tzinfo=timezone.utc)
    assert api.submit(token, api.submission(seed=4)).status_code == 201


def test_submission_window_is_403_outside(app, api, clock):
    token = api.register("alpha")
    app.config["OPEN_AT"] = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    app.config["CLOSE_AT"] = datetime(2026, 3, 6, 12, 0, tzinfo=timezone.utc)
    response = api.submit(token, api.submission())
    assert response.status_code == 403
    assert response.get_json() == {"error": "submissions open at 2026-03-02 10:00 UTC"}
    clock.now = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    assert api.submit(token, api.submission()).status_code == 201
    clock.now = datetime(2026, 3, 6, 11, 59, 59, tzinfo=timezone.utc)
    assert api.submit(token, api.submission(seed=1)).status_code == 201
    clock.now = datetime(2026, 3, 6, 12, 0, tzinfo=timezone.utc)
    response = api.submit(token, api.submission(seed=2))
    assert response.status_code == 403
    assert response.get_json() == {"error": "submissions closed at 2026-03-06 12:00 UTC"}


def test_repeated_bad_tokens_are_throttled_with_retry_after(app, api, clock):
    app.config["BAD_TOKEN_LIMIT"] = 3
    token = api.register("alpha")
    for _ in range(3):
        assert api.submit("guess", b"x").status_code == 401
    response = api.submit("guess", b"x")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"] == (
        "missing or wrong team token; 4 wrong tokens or codes from this address lately: "
        "wait 1 s before the next try"
    )
    assert api.submit(token, api.submission()).status_code == 201  # the right one always works


def test_list_own_submissions_hides_private_until_reveal(app, api, runner):
    alpha, beta = api.register("alpha"), api.register("beta")
    api.submit(alpha, api.submission(), note="mine")
    api.submit(beta, api.submission(seed=1), note="theirs")
    response = api.client.get("/api/submissions", headers={"Authorization": f"Bearer {alpha}"})
    body = response.get_json()
    assert body["team"] == "alpha"
    assert [s["note"] for s in body["submissions"]] == ["mine"]
    assert "private_auc" not in body["submissions"][0]
    assert runner.invoke(["reveal"]).exit_code == 0
    body = api.client.get(
        "/api/submissions", headers={"Authorization": f"Bearer {alpha}"}
    ).get_json()
    assert 0 <= body["submissions"][0]["private_auc"] <= 1
    assert api.client.get("/api/submissions").status_code == 401


def test_mark_finals_through_the_api(api):
    alpha, beta = api.register("alpha"), api.register("beta")
    for seed in range(3):
        api.submit(alpha, api.submission(seed=seed))
    api.submit(beta, api.submission(seed=7))

    def mark(token, sid, body):
        return api.client.post(
            f"/api/submissions/{sid}/final", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    assert mark(alpha, 1, {"final": True}).get_json() == {"id": 1, "final": True}
    assert mark(alpha, 2, {}).status_code == 200
    response = mark(alpha, 3, {"final": True})
    assert response.status_code == 409
    assert response.get_json() == {
        "error": "a team may mark at most 2 submissions as final; unmark one first"
    }
    assert mark(alpha, 1, {"final": False}).status_code == 200
    assert mark(alpha, 3, {"final": True}).status_code == 200
    assert mark(alpha, 4, {"final": True}).status_code == 404  # beta's submission
    assert mark(alpha, 99, {"final": True}).status_code == 404
    assert mark(alpha, 3, {"final": "yes"}).status_code == 400
    assert mark("nope", 3, {"final": True}).status_code == 401


def test_leaderboard_json(api, clock):
    alpha, beta = api.register("alpha"), api.register("beta")
    api.submit(alpha, api.submission(skill=0.5, seed=1))
    clock.advance(hours=1)
    api.submit(beta, api.submission(skill=3.0, seed=2))
    api.submit(alpha, api.submission(skill=0.2, seed=3))
    body = api.client.get("/api/leaderboard").get_json()
    assert body["revealed"] is False
    rows = body["rows"]
    assert [r["team"] for r in rows] == ["beta", "alpha"]
    assert [r["rank"] for r in rows] == [1, 2]
    assert [r["entries"] for r in rows] == [1, 2]
    assert rows[1]["last_submission"] == "2026-03-02T10:30:00Z"
    assert rows[0]["public_auc"] >= rows[1]["public_auc"]
    assert set(rows[0]) == {"rank", "rank_lo", "rank_hi", "team", "team_id", "reference", "public_auc", "public_auc_ci",
                            "entries", "last_submission"}  # fmt: skip


def test_health_and_json_errors(client):
    assert client.get("/api/health").get_json() == {"status": "ok"}
    response = client.get("/api/nothing")
    assert response.status_code == 404 and "error" in response.get_json()
    response = client.get("/api/teams")
    assert response.status_code == 405 and "error" in response.get_json()


def test_disqualified_team_cannot_submit(api, runner):
    token = api.register("alpha")
    result = runner.invoke(["disqualify", "--team", "alpha", "--reason", "shared tokens"])
    assert result.exit_code == 0, result.output
    response = api.submit(token, api.submission())
    assert response.status_code == 403
    assert response.get_json() == {"error": "your team is disqualified: shared tokens"}


def test_scores_are_stored_as_plain_floats(app, api):
    token = api.register("alpha")
    api.submit(token, api.submission())
    with session_scope(app) as db:
        row = db.get(Submission, 1)
    assert all(type(v) is float for v in (row.public_auc, row.private_lo, row.private_hi))
    assert np.isfinite(row.public_auc)


def test_throttling_counts_clients_behind_a_proxy(app_config, make_app):
    app = make_app({**app_config, "PROXY_FIX": 1, "BAD_TOKEN_LIMIT": 2})
    client = app.test_client()

    def attempt(address):
        headers = {"Authorization": "Bearer guess", "X-Forwarded-For": address}
        return client.get("/api/submissions", headers=headers).status_code

    assert [attempt("10.0.0.1") for _ in range(3)] == [401, 401, 429]
    assert attempt("10.0.0.2") == 401


def test_gzip_upload_is_accepted_and_scored_like_the_plain_file(api):
    token = api.register("alpha")
    plain = api.submit(token, api.submission(seed=4)).get_json()
    packed = api.submit(token, gzip.compress(api.submission(seed=4)), filename="s.csv.gz")
    assert packed.status_code == 201
    assert packed.get_json()["public_auc"] == plain["public_auc"]
    assert packed.get_json()["sha256"] != plain["sha256"]  # the hash is of the bytes sent
