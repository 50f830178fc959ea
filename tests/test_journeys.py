"""Two journeys end to end, as the README tells them, on real parts only: data from `challenge
generate`, `leaderboard serve` (waitress), the `leaderboard`, `challenge` and `baselines` commands
in subprocesses, and Debian's chromium for what people do in a browser.

- A participant reads the challenge pages, registers, trains a baseline, validates and submits it
  with `challenge submit`, sees the score on the board (highlighted) and marks it final.
- An organizer adds a team and a reference row, watches with `leaderboard status`, previews the
  final ranking on /admin, mistypes and then types the reveal word, and exports the final ranking.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import requests
from sklearn.metrics import roc_auc_score

from tests.hostile.harness import BIN, live_server, make_site, run_cli
from tests.test_reliability_browser import CHROMIUM, chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


def command(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done


@pytest.fixture(scope="module")
def challenge(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data")
    command("challenge", "generate", "--preset", "demo", "--n-train", "200", "--n-test", "200",
            "--record-length", "512", "--out-dir", str(data), "--quiet")  # fmt: skip
    return data


@pytest.fixture(scope="module")
def matched_filter(challenge, tmp_path_factory) -> Path:
    """A participant's model: the physics reference trained with `baselines` (seconds)."""
    runs = tmp_path_factory.mktemp("runs")
    command("baselines", "train", "matched-filter", "--data", str(challenge),
            "--out-dir", str(runs / "mf"), "--dry-run", "--quiet")  # fmt: skip
    return runs / "mf" / "submission.csv"


@pytest.fixture(scope="module")
def browser():
    """One chromium for both journeys; each page has a context, and so cookies, of its own."""
    with chromium() as browser:
        yield browser


def auc(challenge: Path, submission: Path, split: str) -> float:
    """The AUC on one split, computed here with scikit-learn from the answer key."""
    key = pd.read_csv(challenge / "private" / "answer_key.csv")
    part = key[key["split"] == split].merge(pd.read_csv(submission), on="event_id")
    return roc_auc_score(part["label"], part["score"])


def serve(tmp_path: Path, challenge: Path):
    site = make_site(tmp_path / "site")
    settings = {"LEADERBOARD_ANSWER_KEY": str(challenge / "private" / "answer_key.csv"),
                "LEADERBOARD_PUBLIC_DATA": str(challenge / "public")}  # fmt: skip
    return site, settings, live_server(site, **settings)


@pytest.mark.timeout(400)
def test_a_participants_journey(browser, challenge, matched_filter, tmp_path):
    site, settings, server = serve(tmp_path, challenge)
    with server as live:
        page = browser.new_page()
        page.goto(live.url + "/")
        page.click("nav >> text=Overview")
        assert "The task" in page.inner_text("main")
        page.click("nav >> text=Data")
        link = page.get_attribute("a[href$='sample_submission.csv']", "href")
        sample = requests.get(live.url + link, timeout=10).content
        assert sample == (challenge / "public" / "sample_submission.csv").read_bytes()
        page.click("nav >> text=Register")
        page.fill("input[name=name]", "Neutrino Ninjas")
        page.click("main form button[type=submit]")
        token = page.inner_text("code.token").strip()

        command("challenge", "validate", str(matched_filter), "--data", str(challenge))
        env = {**os.environ, "CHALLENGE_TOKEN": token}
        sent = command("challenge", "submit", str(matched_filter), "--url", live.url,
                       "--note", "matched filter", env=env)  # fmt: skip
        expected = auc(challenge, matched_filter, "public")
        assert f"accepted: public AUC {expected:.4f}" in sent.stdout, sent.stdout

        page.click("nav >> text=Log in")
        page.fill("input[name=token]", token)
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/submit$"))
        assert "submissions left today" in page.inner_text("main")
        page.click("nav >> text=Leaderboard")
        mine = page.locator("tr.mine")
        assert "Neutrino Ninjas" in mine.inner_text() and f"{expected:.4f}" in mine.inner_text()
        page.click("nav >> text=My team")
        page.click("button:has-text('Mark final')")
        assert "marked as final" in page.inner_text(".flash")
        assert page.locator("tbody span.tag.final").count() == 1
        page.close()


@pytest.mark.timeout(400)
def test_an_organizers_journey(browser, challenge, matched_filter, tmp_path):
    site, settings, server = serve(tmp_path, challenge)
    with server as live:
        added = run_cli(site, "add-team", "Quarks", **settings)
        assert added.returncode == 0, added.stderr
        token = added.stdout.strip().rsplit(" ", 1)[-1]
        sample = challenge / "public" / "sample_submission.csv"
        reference = run_cli(site, "add-reference", "random scores", str(sample), **settings)
        assert reference.returncode == 0, reference.stderr
        # The team submits twice: the matched filter and a much noisier copy of it (its ranks
        # drowned in a pattern six times their range), which the board must not count: the
        # Ladder, the default, would keep the first even if the copy were better by chance.
        noisy = tmp_path / "noisy.csv"
        table = pd.read_csv(matched_filter)
        pattern = pd.Series(range(len(table))).mod(7)
        table["score"] = table["score"].rank(pct=True) + pattern
        table.to_csv(noisy, index=False)
        env = {**os.environ, "CHALLENGE_TOKEN": token}
        for file in (matched_filter, noisy):
            command("challenge", "submit", str(file), "--url", live.url, env=env)
        status = run_cli(site, "status", **settings).stdout
        assert "teams:        1 (+ 1 references)" in status
        assert "submissions:  3 in all, 3 today (UTC)" in status and "revealed:     no" in status

        best = max((matched_filter, noisy), key=lambda f: auc(challenge, f, "public"))
        private = auc(challenge, best, "private")  # no finals: the best public one counts
        page = browser.new_page()
        page.goto(live.url + "/admin/login")
        page.fill("input[name=token]", site.env()["LEADERBOARD_ADMIN_TOKEN"])
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/admin/$"))
        nav = page.inner_text("nav")
        assert "Admin" in nav and "Register" not in nav
        preview = page.locator("table.preview tbody tr").first.inner_text()
        assert "Quarks" in preview and f"{private:.4f}" in preview, preview
        page.fill("input[name=confirm]", "revael")
        page.click("button:has-text('Reveal the final ranking')")
        assert "type 'reveal' to confirm" in page.inner_text(".flash.error")
        page.fill("input[name=confirm]", "reveal")
        page.click("button:has-text('Reveal the final ranking')")
        page.wait_for_url(live.url + "/")
        assert page.inner_text("h1") == "Final ranking"
        page.close()

        final = tmp_path / "final.csv"
        exported = run_cli(site, "export", "leaderboard", "-o", str(final), **settings)
        assert exported.returncode == 0, exported.stderr
        rows = list(csv.DictReader(io.StringIO(final.read_text())))
        quarks = next(row for row in rows if row["team"] == "Quarks")
        assert quarks["rank"] == "1" and float(quarks["private_auc"]) == pytest.approx(private)
        assert "revealed:     yes" in run_cli(site, "status", **settings).stdout
