"""End to end in a real browser: Debian's headless chromium, driven by Playwright for Python,
against a real `leaderboard serve` on 127.0.0.1. Skips when /usr/bin/chromium is missing
(`.ci/services.sh` installs it in CI).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
import requests

from challenge.metrics import roc_auc_score
from challenge.submission import read_submission
from tests.hostile.harness import live_server, make_site, register, submission_bytes, upload

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]  # fmt: skip
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium "
        "(apt-get install chromium; .ci/services.sh does it in CI)",
    ),  # fmt: skip
]


@contextlib.contextmanager
def chromium():
    """Debian's chromium driven by Playwright, closed afterwards; every browser test starts it here."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright for Python")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module (each start costs a second or two of CPU)."""
    site = make_site(tmp_path_factory.mktemp("browser") / "site")
    with live_server(site) as live:
        yield site, live


def public_auc(site, data: bytes) -> float:
    """The public AUC computed here, independently of the server's scoring path."""
    table = read_submission(data).set_index("event_id")["score"]
    public = site.key[site.key["split"] == "public"]
    return roc_auc_score(public["label"].to_numpy(), table.reindex(public["event_id"]).to_numpy())


def test_register_upload_and_see_the_score(browser, server, tmp_path):
    site, live = server
    page = browser.new_page()
    try:
        page.goto(live.url + "/register")
        page.fill("input[name=name]", "Browser <b>Bosons</b>")
        page.click("main form button[type=submit]")
        assert page.locator("h1").inner_text() == "Team Browser <b>Bosons</b> is registered"
        token = page.locator("code.token").inner_text().strip()
        assert len(token) >= 32

        page.goto(live.url + "/login")
        page.fill("input[name=token]", token)
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/submit$"))

        data = submission_bytes(site.key, seed=7)
        path = tmp_path / "my submission.csv"
        path.write_bytes(data)
        page.set_input_files("input[name=file]", str(path))
        page.fill("input[name=note]", "from the browser")
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/teams/\d+$"))
        flash = page.locator(".flash").inner_text()
        expected = public_auc(site, data)
        assert f"public AUC {expected:.4f}" in flash, flash

        page.goto(live.url + "/")
        row = page.locator("tbody tr", has_text="Bosons").inner_text()
        assert "Browser <b>Bosons</b>" in row and f"{expected:.4f}" in row, row
        page.screenshot(path=str(tmp_path / "desktop.png"), full_page=True)
    finally:
        page.close()


def test_bad_file_through_the_form_shows_the_validator_message(browser, server, tmp_path):
    site, live = server
    token = register(live.url, "form errors")
    page = browser.new_page()
    try:
        page.goto(live.url + "/login")
        page.fill("input[name=token]", token)
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/submit$"))
        bad = tmp_path / "bad.csv"
        bad.write_bytes(b"event_id;score\n1;0.5\n")
        page.set_input_files("input[name=file]", str(bad))
        page.click("main form button[type=submit]")
        message = page.locator(".error").inner_text()
        assert "bad.csv: line 1: the header 'event_id;score' is separated by ';'" in message, (
            message
        )
    finally:
        page.close()


def test_leaderboard_fits_a_phone_screen(browser, server, tmp_path):
    site, live = server
    names = [
        "Quarks",
        "Dunkelmateriedetektorgruppe",  # a long real word; one of 40 letters scrolls (test_leaderboard_browser)
        "Ωμέγα 🚀 détecteurs",
        "<script>x</script>",
        "team with a long name ok",
    ]
    for number, name in enumerate(names):
        token = register(live.url, name)
        assert upload(live.url, token, submission_bytes(site.key, seed=number)).status_code == 201
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)  # fmt: skip
    page = context.new_page()
    try:
        for path in ("/", "/register", "/login", "/teams/1"):
            page.goto(live.url + path)
            widths = page.evaluate(
                "() => [document.scrollingElement.scrollWidth, window.innerWidth]"
            )
            assert widths[0] <= widths[1], f"{path} overflows a phone: {widths}"
        page.goto(live.url + "/")
        rows = requests.get(live.url + "/api/leaderboard", timeout=10).json()["rows"]
        assert page.locator("tbody tr").count() == len(rows) >= len(names)
        # The public board fits whole: no column hidden behind the table's own scroll bar.
        fits = "() => [...document.querySelectorAll('.scroll')].map(e => [e.scrollWidth, e.clientWidth])"
        assert all(inner <= outer for inner, outer in page.evaluate(fits)), page.evaluate(fits)
        shot = tmp_path / "leaderboard-phone.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        print(f"\n[browser] phone screenshot: {shot}")
    finally:
        context.close()
