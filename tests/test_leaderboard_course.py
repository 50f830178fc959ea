"""The course on the site (leaderboard.course, course_api, tutor): learners report lesson checks
with their team token, a resend is recorded once, bad reports get a 4xx that names the field, a
learner reads only its own results, the tutors' page and CSV show each learner's steps, due dates
mark reports late, the code is kept only when the tutors ask, and reports are rate limited."""

from __future__ import annotations

import csv
import html
import io
import uuid
from datetime import timedelta

from exercises.lessons import STEP_NAMES
from tests.conftest import ADMIN_TOKEN

SHA = "ab" * 32


def report(lesson: int = 1, statuses: dict[str, str] | None = None, *, report_id=None,
           message: str = "", **extra) -> dict:  # fmt: skip
    """A report of lesson ``lesson``: every step passed unless ``statuses`` says otherwise."""
    statuses = statuses or {}
    steps = [
        {"name": name, "status": statuses.get(name, "passed"), "seconds": 0.25,
         "message": message if statuses.get(name) == "failed" else "ok"}
        for name in STEP_NAMES[lesson]
    ]  # fmt: skip
    return {"id": report_id or uuid.uuid4().hex, "lesson": lesson, "file_sha256": SHA,
            "checked_at": "2026-03-02T09:00:00Z", "quick": False, "steps": steps} | extra  # fmt: skip


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def send(client, token: str, *reports: dict):
    return client.post(
        "/api/course/reports", json={"reports": list(reports)}, headers=bearer(token)
    )


def tutor_csv(client) -> list[dict]:
    response = client.get("/admin/course.csv", headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == "attachment; filename=course.csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_a_report_is_recorded_once_and_the_tutors_csv_shows_each_step(client, api):
    token = api.register("Ada")
    first = report(1, {"optimizers": "failed", "figures": "skipped"}, message="lr too large")
    response = send(client, token, first)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["accepted"] == [first["id"]] and body["duplicates"] == [] and body["late"] == []
    assert body["pseudonym"].startswith("learner-")
    again = send(client, token, first)  # the outbox sends it again: nothing new
    assert again.status_code == 200
    assert again.get_json() | {"pseudonym": None} == {
        "accepted": [], "duplicates": [first["id"]], "late": [], "pseudonym": None
    }  # fmt: skip

    (row,) = tutor_csv(client)
    assert (row["team"], row["pseudonym"]) == ("Ada", body["pseudonym"])
    assert row["lesson 1 passed"] == f"{len(STEP_NAMES[1]) - 2} of {len(STEP_NAMES[1])}"
    expected = {f"lesson 1: {s}": "passed" for s in STEP_NAMES[1]}
    expected |= {"lesson 1: optimizers": "failed", "lesson 1: figures": "skipped"}
    assert {k: v for k, v in row.items() if k.startswith("lesson 1: ")} == expected
    assert all(row[f"lesson 2: {s}"] == "" for s in STEP_NAMES[2])

    progress = client.get("/api/course/progress", headers=bearer(token)).get_json()
    (lesson,) = progress["lessons"]
    optimizers = next(s for s in lesson["steps"] if s["step"] == "optimizers")
    assert optimizers == {
        "step": "optimizers", "status": "failed", "attempts": 1,
        "first_at": "2026-03-02T09:00:00Z", "passed_at": None, "seconds": 0.25,
        "message": "lr too large", "late": False,
    }  # fmt: skip


def test_a_later_check_updates_the_step_and_times_how_long_it_took(client, api, clock):
    token = api.register("Ada")
    send(client, token, report(1, {"model": "failed"}, checked_at="2026-03-02T09:00:00Z"))
    send(client, token, report(1, {"model": "failed"}, checked_at="2026-03-02T09:10:00Z"))
    send(client, token, report(1, checked_at="2026-03-02T09:25:00Z"))
    (lesson,) = client.get("/api/course/progress", headers=bearer(token)).get_json()["lessons"]
    model = next(s for s in lesson["steps"] if s["step"] == "model")
    assert (model["status"], model["attempts"]) == ("passed", 3)
    assert (model["first_at"], model["passed_at"]) == (
        "2026-03-02T09:00:00Z",
        "2026-03-02T09:25:00Z",
    )
    page = client.get("/admin/course", headers=bearer(ADMIN_TOKEN)).get_data(as_text=True)
    assert "3 tries · passed after 25 min" in page
    dashboard = client.get("/admin/", headers=bearer(ADMIN_TOKEN)).get_data(as_text=True)
    assert '<a href="/admin/course">Course: the class</a>' in dashboard


def test_the_stuck_list_names_the_step_and_the_hint_given(client, api, clock):
    ada, bob = api.register("Ada"), api.register("Bob")
    for minute in (0, 5, 9):  # three failures in a row: stuck
        send(client, ada, report(2, {"activations": "failed"}, message="relu is negative",
                                 checked_at=f"2026-03-02T09:0{minute}:00Z"))  # fmt: skip
    send(client, bob, report(2, {"activations": "failed"}, message="not yet"))  # once: not stuck
    page = client.get("/admin/course", headers=bearer(ADMIN_TOKEN)).get_data(as_text=True)
    stuck = page.split('id="stuck"')[1].split("</table>")[0]
    assert "Ada" in stuck and "activations" in stuck and "relu is negative" in stuck
    assert "Bob" not in stuck
    clock.advance(minutes=16)  # failing for 15 minutes or more: stuck too
    stuck = client.get("/admin/course", headers=bearer(ADMIN_TOKEN)).get_data(as_text=True)
    assert "Bob" in stuck.split('id="stuck"')[1].split("</table>")[0]


BAD_REPORTS = [  # what is changed in a good report -> what the 400's message says
        (lambda r: r.update(lesson=9), "reports[0].lesson: expected one of 1, 2, 3, 4, 5, 6; got 9"),
        (lambda r: r.update(lesson="1"), "reports[0].lesson: expected one of"),
        (lambda r: r.update(id="x"), "reports[0].id: expected 8 to 64 letters"),
        (lambda r: r.update(file_sha256="nope"), "reports[0].file_sha256: expected 64"),
        (lambda r: r.update(checked_at="yesterday"), "reports[0].checked_at: expected an ISO"),
        (lambda r: r.update(checked_at="2026-03-02T09:00:00"), "reports[0].checked_at"),
        (lambda r: r.update(quick="no"), "reports[0].quick: expected true or false"),
        (lambda r: r.update(steps=[]), "reports[0].steps: expected a list of one step"),
        (lambda r: r.pop("steps"), "reports[0]: missing steps"),
        (lambda r: r.update(secret=1), "reports[0]: unknown field secret"),
        (lambda r: r["steps"][1].update(name="hack"),
         "reports[0].steps[1].name: 'hack' is not a step of lesson 1; its steps are 'sigmoid'"),
        (lambda r: r["steps"][0].update(status="ok"), "reports[0].steps[0].status: expected one"),
        (lambda r: r["steps"][0].update(seconds=-1), "reports[0].steps[0].seconds: expected a"),
        (lambda r: r["steps"][0].update(seconds=True), "reports[0].steps[0].seconds"),
        (lambda r: r["steps"][0].update(message=["x"]), "reports[0].steps[0].message: expected"),
        (lambda r: r["steps"][0].update(message="m" * 2001), "at most 2000 characters"),
        (lambda r: r["steps"].append(dict(r["steps"][0])), "reports[0].steps: a step is named twice"),
        (lambda r: r.update(code=5), "reports[0].code: expected text"),
]  # fmt: skip


def test_a_report_that_is_not_what_the_course_takes_is_refused_naming_the_field(client, api):
    token = api.register("Ada")
    for change, words in BAD_REPORTS:  # one app for all: each case is one request
        bad = report(1)
        change(bad)
        response = send(client, token, bad)
        assert response.status_code == 400, (words, response.get_json())
        assert words in response.get_json()["error"]
    assert client.get("/api/course/progress", headers=bearer(token)).get_json()["lessons"] == []


def test_bodies_that_are_not_reports_get_a_4xx_never_a_500(client, api, app):
    token = api.register("Ada")
    post = lambda data, **kw: client.post(  # noqa: E731
        "/api/course/reports", data=data, headers=bearer(token), content_type="application/json"
    )
    assert post(b"{").status_code == 400
    assert post(b"\xff\xfe").status_code == 400
    assert post(b"[" * 100_000 + b"]" * 100_000).status_code == 400  # nested too deeply
    assert post(b'{"reports": 5}').get_json()["error"] == (
        '"reports": expected a list of one report or more'
    )
    assert post(b'{"reports": [], "x": 1}').status_code == 400
    many = [report(1) for _ in range(51)]
    assert "the most in one request is 50" in send(client, token, *many).get_json()["error"]
    twice = report(1)
    assert "sent twice" in send(client, token, twice, twice).get_json()["error"]
    big = post(b" " * (app.config["COURSE_MAX_BODY_BYTES"] + 1))
    assert big.status_code == 413 and "at most 1048576 bytes" in big.get_json()["error"]
    assert send(client, "wrong-token", report(1)).status_code == 401
    assert client.post("/api/course/reports", json={"reports": [report(1)]}).status_code == 401


def test_a_learner_reads_only_its_own_results(client, api):
    ada, bob = api.register("Ada"), api.register("Bob")
    send(client, ada, report(1, {"model": "failed"}, message="ada's secret hint"))
    send(client, bob, report(3, {"softmax": "failed"}, message="bob's secret hint"))
    mine = client.get("/api/course/progress", headers=bearer(bob)).get_json()
    assert mine["team"] == "Bob" and [lesson["lesson"] for lesson in mine["lessons"]] == [3]
    assert "ada's secret hint" not in str(mine)
    # No address names another learner: a query or a path with Ada's id changes nothing.
    with_id = client.get("/api/course/progress?team_id=1&team=Ada", headers=bearer(bob))
    assert with_id.get_json() == mine
    assert client.get("/api/course/progress/1", headers=bearer(bob)).status_code == 404
    # The tutors' pages refuse a team token, and send a browser without the organizer's
    # session to the log-in form.
    for path in ("/admin/course", "/admin/course.csv", "/admin/course/reports/1/code"):
        assert client.get(path, headers=bearer(bob)).status_code == 403
        assert client.get(path).status_code == 302
    refused = client.post("/admin/course/settings", data={"collect_code": "1"}, headers=bearer(bob))
    assert refused.status_code == 403
    # The class page shows pseudonyms only: no team name, no hint.
    page = client.get("/course").get_data(as_text=True)
    assert "Ada" not in page and "Bob" not in page and "secret hint" not in page
    pseudonyms = [p["pseudonym"] for p in (
        client.get("/api/course/progress", headers=bearer(t)).get_json() for t in (ada, bob)
    )]  # fmt: skip
    assert all(p in page for p in pseudonyms)
    assert client.get("/course").headers.get("Cache-Control") is None  # public, no secret
    for path in ("/admin/course", "/admin/course.csv", "/api/course/progress"):
        who = ADMIN_TOKEN if path.startswith("/admin") else bob
        assert client.get(path, headers=bearer(who)).headers["Cache-Control"] == "no-store"


def test_a_report_after_the_due_date_is_marked_late_not_refused(client, api, clock):
    token = api.register("Ada")
    due = clock.now + timedelta(hours=1)
    saved = client.post(
        "/admin/course/settings",
        data={"due_1": due.strftime("%Y-%m-%dT%H:%M")},
        headers=bearer(ADMIN_TOKEN),
    )
    assert saved.status_code == 303
    on_time = send(client, token, report(1, {"model": "failed"}))
    assert on_time.status_code == 201 and on_time.get_json()["late"] == []
    clock.advance(hours=1, seconds=1)
    late = report(1)
    after = send(client, token, late, report(2))  # lesson 2 has no due date
    assert after.status_code == 201 and after.get_json()["late"] == [late["id"]]
    (row,) = tutor_csv(client)
    assert (row["lesson 1 late"], row["lesson 2 late"]) == ("late", "")
    assert row["lesson 1: model"] == "passed"
    settings = client.get("/api/course/settings", headers=bearer(token)).get_json()
    assert settings["lessons"][0]["due"] == due.replace(second=0).isoformat().replace("+00:00", "Z")
    bad = client.post("/admin/course/settings", data={"due_2": "next week"},
                      headers=bearer(ADMIN_TOKEN))  # fmt: skip
    assert bad.status_code == 400
    assert "lesson 2's due date 'next week': expected a date and time" in html.unescape(
        bad.get_data(as_text=True)
    )


def test_the_code_is_kept_only_while_the_tutors_ask_for_it(client, api):
    token = api.register("Ada")
    assert (
        client.get("/api/course/settings", headers=bearer(token)).get_json()["collect_code"]
        is False
    )
    unasked = report(1, code="def sigmoid(z): ...")
    send(client, token, unasked)
    assert (
        client.get("/admin/course/reports/1/code", headers=bearer(ADMIN_TOKEN)).status_code == 404
    )
    client.post("/admin/course/settings", data={"collect_code": "1"}, headers=bearer(ADMIN_TOKEN))
    assert (
        client.get("/api/course/settings", headers=bearer(token)).get_json()["collect_code"] is True
    )
    send(client, token, report(1, code="def sigmoid(z): return 1"))
    code = client.get("/admin/course/reports/2/code", headers=bearer(ADMIN_TOKEN))
    assert code.status_code == 200 and code.get_data(as_text=True) == "def sigmoid(z): return 1"
    page = client.get("/admin/course", headers=bearer(ADMIN_TOKEN)).get_data(as_text=True)
    assert "/admin/course/reports/2/code" in page


def test_reports_are_rate_limited_per_team_and_a_resend_costs_nothing(client, api, app, clock):
    app.config["COURSE_REPORTS_PER_HOUR"] = 3
    ada, bob = api.register("Ada"), api.register("Bob")
    sent = [report(1) for _ in range(3)]
    assert send(client, ada, *sent).status_code == 201
    assert send(client, ada, sent[0]).status_code == 200  # a resend: not counted, not refused
    refused = send(client, ada, report(1))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3601"
    assert "3 in the last hour and 1 more, the most is 3 an hour" in refused.get_json()["error"]
    assert send(client, bob, report(1)).status_code == 201  # another team's count is its own
    clock.advance(minutes=61)
    assert send(client, ada, report(1)).status_code == 201
