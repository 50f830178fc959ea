"""`exercises check --report`: each check's step results go to the course's site, through an
outbox in the learner's folder that keeps what could not be sent until the next report."""

from __future__ import annotations

import contextlib
import csv
import html
import importlib
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from exercises import progress
from exercises.checker import CheckFailed, Step, StepResult
from exercises.cli import main
from exercises.lessons import LESSONS, STEP_NAMES
from exercises.report import OUTBOX_FILE, new_report, outgoing
from leaderboard import course
from leaderboard.cli import main as leaderboard_main
from tests.conftest import DATABASES, POSTGRES_URL
from tests.hostile.harness import (
    BIN,
    LiveServer,
    Site,
    free_port,
    live_server,
    make_site,
    postgres_schema,
    register,
    waitress_command,
)
from tests.test_leaderboard_browser import OVERFLOW_JS
from tests.test_reliability_browser import CHROMIUM, chromium


@pytest.mark.parametrize("number", sorted(LESSONS))
def test_the_step_names_the_site_takes_are_the_checks_own(number):
    steps = importlib.import_module(f"exercises.checks.lesson{number}").STEPS
    assert STEP_NAMES[number] == tuple(step.name for step in steps)


# --- a class against a live server ---------------------------------------------------------------

LESSON = 1
REAL_STEPS = importlib.import_module(f"exercises.checks.lesson{LESSON}").STEPS
CLASS_SIZE = 30
REAL = "real command line"  # the learner who runs `exercises check` as a learner does


def admin_bearer(site: Site) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.env()['LEADERBOARD_ADMIN_TOKEN']}"}


def light_steps() -> list[Step]:
    """Lesson 1's steps, by name, order and what each needs, but each only looks up whether the
    learner's file lists it in FAILING: the checker's whole path (load, run, skip, record,
    report) in milliseconds instead of seconds of torch per learner."""

    def run(name: str):
        def step(ctx) -> str:
            if name in getattr(ctx.module, "FAILING", ()):
                raise CheckFailed(f"{name} is wrong on purpose (hint for {ctx.path.parent.name})")
            return "ok"

        return step

    return [Step(s.name, (), run(s.name), needs=s.needs) for s in REAL_STEPS]


def expected_statuses(failing: set[str]) -> dict[str, str]:
    """What the checker must say of each step: failed if listed, skipped when a step it needs
    did not pass (failed or was skipped itself), passed otherwise (written from the rule, not
    from the checker's code)."""
    statuses: dict[str, str] = {}
    for step in REAL_STEPS:
        if any(statuses[need] != "passed" for need in step.needs):
            statuses[step.name] = "skipped"
        else:
            statuses[step.name] = "failed" if step.name in failing else "passed"
    return statuses


def failing_for(i: int) -> set[str]:
    """Learner i's mistakes: a different mix for each, some with none."""
    return {s.name for j, s in enumerate(REAL_STEPS) if (i * 7 + j * 3) % 5 == 0}


def check(directory: Path, failing: set[str], *args: str, **env: str):
    lesson_file = directory / LESSONS[LESSON].filename
    lesson_file.write_text(f"FAILING = {sorted(failing)!r}\n", encoding="utf-8")
    return CliRunner().invoke(
        main, ["check", str(LESSON), str(lesson_file), "--report", *args], env=env
    )


@dataclass
class Class:
    live: LiveServer
    site: Site
    expected: dict[str, dict[str, str]]  # team name -> step -> status
    outputs: dict[str, str]  # team name -> what its last check printed

    def admin_get(self, path: str) -> requests.Response:
        response = requests.get(self.live.url + path, headers=admin_bearer(self.site))
        assert response.status_code == 200, response.text
        return response


@pytest.fixture(scope="module", params=DATABASES)
def taught(request, tmp_path_factory) -> Iterator[Class]:
    """A live server on each database, and a class of 30 that reported lesson 1 through
    `exercises check --report`: in this process with light steps (every fifth checks a second
    time after fixing every step), and on SQLite one of the 30 through the real command line
    with the real steps."""
    root = tmp_path_factory.mktemp(f"class-{request.param}")
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(postgres_schema(POSTGRES_URL))
        site = make_site(root / "site", url)
        live = stack.enter_context(live_server(site))
        # The real command line first, in its own process: it runs while the others report
        # (on SQLite only: seconds of torch, and the server's side is the same on both).
        real_token = register(live.url, REAL) if request.param == "sqlite" else None
        directory = root / "real"
        directory.mkdir()
        shutil.copy(LESSONS[LESSON].solution_path, directory / LESSONS[LESSON].filename)
        real = real_token and subprocess.Popen(
            [str(BIN / "exercises"), "check", str(LESSON), LESSONS[LESSON].filename, "--quick",
             "--report"],
            cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=os.environ | {"CHALLENGE_URL": live.url, "CHALLENGE_TOKEN": real_token},
        )  # fmt: skip
        stack.callback(lambda: real and real.kill())
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setattr(
            importlib.import_module(f"exercises.checks.lesson{LESSON}"), "STEPS", light_steps()
        )
        expected, outputs = {}, {}
        for i in range(CLASS_SIZE - 1 if real else CLASS_SIZE):
            name = f"learner {i:02d}"
            token = register(live.url, name)
            directory = root / f"l{i:02d}"
            directory.mkdir()
            tries = [failing_for(i)] + [set()] * (i % 5 == 0)
            for failing in tries:
                result = check(directory, failing, "--url", live.url, "--token", token)
                assert result.exit_code == (1 if failing else 0), result.output
            expected[name], outputs[name] = expected_statuses(tries[-1]), result.output
        mp.undo()
        if real:
            outputs[REAL], _ = real.communicate(timeout=120)
            assert real.returncode == 0, outputs[REAL]
            expected[REAL] = {s.name: "not run" if s.training else "passed" for s in REAL_STEPS}
        # The tutor lists learners in the order they joined: the real one's report came when it did.
        order = requests.get(live.url + "/admin/course.csv", headers=admin_bearer(site)).text
        expected = dict(sorted(expected.items(), key=lambda item: order.index("\n" + item[0])))
        yield Class(live, site, expected, outputs)


CELL = re.compile(r'<td class="cell[^"]*" data-step="([^"]+)" data-status="([^"]*)"')


def test_a_class_of_30_reports_and_the_tutor_page_and_csv_show_each_step(taught):
    """One test for both views, so that a parallel run sets the class up once per database."""
    for name, output in taught.outputs.items():
        assert re.search(rf"^Reported 1 check to {re.escape(taught.live.url)} as learner-\w+\.$",
                         output, re.MULTILINE), (name, output)  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(taught.admin_get("/admin/course.csv").text)))
    assert [row["team"] for row in rows] == list(taught.expected)
    for row in rows:
        expected = taught.expected[row["team"]]
        shown = {s: row[f"lesson {LESSON}: {s}"] for s in STEP_NAMES[LESSON]}
        assert shown == expected, row["team"]
        passed = sum(v == "passed" for v in expected.values())
        assert row[f"lesson {LESSON} passed"] == f"{passed} of {len(STEP_NAMES[LESSON])}"
        assert all(row[f"lesson 2: {s}"] == "" for s in STEP_NAMES[2])
    assert len({row["pseudonym"] for row in rows}) == len(rows) == CLASS_SIZE
    page = taught.admin_get("/admin/course").text
    matrix = page.split(f'data-lesson="{LESSON}"')[1].split("</table>")[0]
    rows = matrix.split("<tr data-learner=")[1:]
    assert len(rows) == len(taught.expected)
    for name, row in zip(taught.expected, rows, strict=True):
        assert f">{html.escape(name)} <small>" in row
        cells = {html.unescape(step): status for step, status in CELL.findall(row)}
        assert cells == taught.expected[name], name
    assert "hint for l01" in page  # learner 01's failing step: the checker's words, on hover
    assert "Nobody is stuck." in page  # one failure each: nobody failed three times in a row


# --- the site down, then up ---------------------------------------------------------------------


def test_reports_made_while_the_site_is_down_arrive_once_it_is_back(tmp_path, monkeypatch):
    monkeypatch.setattr(
        importlib.import_module(f"exercises.checks.lesson{LESSON}"), "STEPS", light_steps()
    )
    site = make_site(tmp_path / "site")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The organizer hands out the token (as `leaderboard add-team` does); the site is not up yet.
    added = CliRunner().invoke(leaderboard_main, ["add-team", "offline learner"], env=site.env())
    assert added.exit_code == 0, added.output
    token = added.output.split("(shown only once): ")[1].strip()
    work = tmp_path / "work"
    work.mkdir()
    outbox = work / OUTBOX_FILE

    down = check(work, {"model"}, CHALLENGE_URL=url, CHALLENGE_TOKEN=token)
    assert down.exit_code == 1  # the check's own verdict: a step failed
    assert f"Not reported: could not reach {url} ([Errno 111] Connection refused); 1 report " \
        f"waits in {outbox} for the next --report" in down.output  # fmt: skip
    *_, summary, note = down.output.splitlines()  # one line of note, after the check's own
    passed = list(expected_statuses({"model"}).values()).count("passed")
    assert summary.startswith(f"{passed} of 9 steps passed") and note.startswith("Not reported: ")
    assert progress.load(work)[LESSON].n_passed == passed  # the progress file is the record
    down = check(work, set(), CHALLENGE_URL=url, CHALLENGE_TOKEN=token)
    assert down.exit_code == 0 and "2 reports wait in" in down.output
    queued = outbox.read_text(encoding="utf-8")

    server = LiveServer(waitress_command(port), site.env(), port, site.root).start()
    try:
        up = check(work, set(), CHALLENGE_URL=url, CHALLENGE_TOKEN=token)
        assert up.exit_code == 0 and "Reported 3 checks to" in up.output, up.output
        assert not outbox.exists()
        # The answer was lost on the way back: the same reports are sent again, and not
        # recorded twice.
        outbox.write_text(queued, encoding="utf-8")
        again = CliRunner().invoke(main, ["report", str(work), "--url", url, "--token", token])
        assert again.exit_code == 0 and "Reported 0 checks to" in again.output, again.output
        assert not outbox.exists()
        mine = requests.get(
            url + "/api/course/progress", headers={"Authorization": f"Bearer {token}"}
        )
        steps = {s["step"]: s for s in mine.json()["lessons"][0]["steps"]}
        assert (steps["model"]["status"], steps["model"]["attempts"]) == ("passed", 3)
        assert steps["sigmoid"]["attempts"] == 3
        wrong = check(work, set(), CHALLENGE_URL=url, CHALLENGE_TOKEN="not-a-token")
        assert wrong.exit_code == 0 and wrong.output.splitlines()[-1] == (
            "Not reported: the site refused the report (401: missing or wrong team token; pass "
            f"--token or set CHALLENGE_TOKEN); 1 report waits in {outbox} for the next --report "
            "(your progress is kept here either way)."
        )
    finally:
        server.stop()


def test_report_needs_the_site_and_the_token_before_checking(tmp_path):
    (tmp_path / "lesson1_logistic.py").write_text("x = 1\n", encoding="utf-8")
    no_url = CliRunner().invoke(main, ["check", "1", str(tmp_path / "lesson1_logistic.py"),
                                       "--report", "--token", "t"], env={"CHALLENGE_URL": None})  # fmt: skip
    assert no_url.exit_code == 2 and "--report needs the course's site" in no_url.output
    assert not (tmp_path / ".exercises-progress.json").exists()  # refused before checking
    no_token = CliRunner().invoke(main, ["report", str(tmp_path), "--url", "http://x"],
                                  env={"CHALLENGE_TOKEN": None})  # fmt: skip
    assert no_token.exit_code == 2 and "--report needs your team token" in no_token.output


# --- the tutor page in a browser -------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
@pytest.mark.parametrize("taught", ["sqlite"], indirect=True)  # the page is the same on both
def test_the_tutor_page_in_a_browser(taught, tmp_path):
    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        page = context.new_page()
        page.goto(taught.live.url + "/admin/course")
        assert page.url.endswith("/admin/login")  # organizers only
        page.fill("input[name=token]", taught.site.env()["LEADERBOARD_ADMIN_TOKEN"])
        page.click("main form button[type=submit]")
        page.goto(taught.live.url + "/admin/course")
        page.screenshot(path=str(tmp_path / "tutor.png"), full_page=True)
        shown = page.evaluate(
            """() => [...document.querySelectorAll('table.matrix tbody tr')].map(tr => [
                 tr.querySelector('td.team').innerText.split(' (')[0],
                 Object.fromEntries([...tr.querySelectorAll('td.cell')].map(
                   td => [td.dataset.step, td.dataset.status]))])"""
        )
        assert dict(shown) == taught.expected
        layout = page.evaluate(OVERFLOW_JS, False)  # the matrix scrolls in its own box
        assert layout["page"] <= layout["width"] and not layout["out"], layout
        hint = page.locator("td.cell.failed").first.get_attribute("title")
        assert "is wrong on purpose (hint for l" in hint
        with page.expect_download() as download:
            page.click("text=Class CSV")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert [row["team"] for row in rows] == list(taught.expected)

        page.fill("input[name=due_2]", "2030-01-31T18:00")
        page.click("text=Save the course settings")
        assert "Course settings saved." in page.inner_text("main")
        assert page.input_value("input[name=due_2]") == "2030-01-31T18:00"

        anonymous = browser.new_context().new_page()
        anonymous.goto(taught.live.url + "/course")
        text = anonymous.inner_text("main")
        assert "due 2030-01-31" in text and not any(name in text for name in taught.expected)
        assert text.count("learner-") == len(taught.expected)


# --- what leaves the learner's laptop ------------------------------------------------------------


def test_the_code_goes_only_when_asked_and_a_quoted_line_of_it_never_otherwise(tmp_path):
    lesson_file = tmp_path / "lesson1_logistic.py"
    lesson_file.write_text("def sigmoid(z):\n    return secret_formula(z)\n", encoding="utf-8")
    said = "NameError: name 'secret_formula' is not defined (lesson1_logistic.py, line 2: " \
        "`return secret_formula(z)`)"  # fmt: skip
    results = [
        StepResult("sigmoid", False, said, 0.5),
        StepResult("model", False, "x", ran=False, skipped=True),
    ]
    new = new_report(1, lesson_file, results, quick=True)
    assert new["steps"] == [
        {"name": "sigmoid", "status": "failed", "seconds": 0.5, "message": said},
        {"name": "model", "status": "skipped", "seconds": 0.0, "message": "x"},
    ]  # the outbox keeps the message whole: the site's setting decides when it is sent
    plain = outgoing(new, tmp_path, collect_code=False)
    assert "code" not in plain and "file" not in plain
    assert plain["steps"][0]["message"] == (
        "NameError: name 'secret_formula' is not defined (lesson1_logistic.py, line 2)"
    )
    assert "secret_formula(z)" not in json.dumps(plain)
    asked = outgoing(new, tmp_path, collect_code=True)
    assert asked["code"] == lesson_file.read_text() and asked["steps"][0]["message"] == said
    lesson_file.write_text("def sigmoid(z):\n    return 1\n", encoding="utf-8")
    assert "code" not in outgoing(new, tmp_path, collect_code=True)  # not the file checked


def test_a_report_stays_within_the_sites_limits_so_it_is_never_refused_for_good(tmp_path):
    lesson_file = tmp_path / "lesson1_logistic.py"
    lesson_file.write_text("x = 1\n" + "#" * 200_000 + "\n", encoding="utf-8")
    new = new_report(1, lesson_file, [StepResult("sigmoid", False, "e" * 5000)], quick=False)
    assert len(new["steps"][0]["message"]) == course.MAX_MESSAGE_CHARS
    assert new["steps"][0]["message"].endswith("...")
    assert "code" not in outgoing(new, tmp_path, collect_code=True)  # over the site's limit
    assert course.parse_reports({"reports": [outgoing(new, tmp_path, collect_code=True)]})
