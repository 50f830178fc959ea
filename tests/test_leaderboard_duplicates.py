"""Duplicate files: a team resending a file it already sent is refused without using its quota,
and the same file from two teams is flagged for the organizers."""

from __future__ import annotations

from leaderboard.db import session_scope
from leaderboard.models import Submission
from tests.conftest import ADMIN_TOKEN


def test_a_resent_file_is_refused_naming_the_earlier_one_and_costs_no_quota(app, api, clock):
    token = api.register("alpha")
    data = api.submission(seed=1)
    first = api.submit(token, data)
    assert first.status_code == 201 and first.get_json()["remaining_today"] == 2
    clock.advance(minutes=5)
    for _ in range(3):
        again = api.submit(token, data, filename="renamed.csv", note="try again")
        assert again.status_code == 409
        assert again.get_json()["error"] == (
            "this file is the same as your submission #1 of 2026-03-02 09:30 UTC "
            f"(sha256 {first.get_json()['sha256'][:12]}...); it was not scored again and does "
            "not count against your quota"
        )
    assert api.submit(token, api.submission(seed=2)).get_json()["remaining_today"] == 1
    with session_scope(app) as db:
        assert db.query(Submission).count() == 2


def test_the_form_shows_the_same_refusal(api, client):
    import io

    token = api.register("alpha")
    data = api.submission(seed=1)
    assert api.submit(token, data).status_code == 201
    client.post("/login", data={"token": token})
    response = client.post(
        "/submit", data={"file": (io.BytesIO(data), "same.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 409
    assert "the same as your submission #1" in response.get_data(as_text=True)


def test_the_same_file_from_two_teams_is_flagged_on_admin(api, client):
    alpha, beta, gamma = api.register("alpha"), api.register("beta"), api.register("gamma")
    shared = api.submission(seed=7)
    assert api.submit(alpha, shared).status_code == 201
    assert api.submit(beta, shared).status_code == 201  # another team may: it is flagged
    assert api.submit(gamma, api.submission(seed=8)).status_code == 201
    page = client.get("/admin/", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).text
    section = page.split("The same file from several teams", 1)[1].split("<h2>", 1)[0]
    assert "#1 (alpha, 2026-03-02 09:30), #2 (beta, 2026-03-02 09:30)" in section
    assert "gamma" not in section
