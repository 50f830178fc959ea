"""Every page of the site in Debian's chromium at a phone's 390 px and a desktop's 1280 px: no
element runs off the screen, no word breaks inside, the viewer's team stands out, times show in
the viewer's zone. Screenshots of each page at each size go to the test's folder (printed with -s).

The server is a real `leaderboard serve` on a challenge made by `challenge generate`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.hostile.harness import BIN, live_server, make_site, register, run_cli, upload
from tests.test_reliability_browser import CHROMIUM, chromium

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
TEAMS = [  # name -> skill of its submissions
    ("Quarks", 2.0),
    ("Dunkelmateriedetektorgruppe", 1.6),  # a long real word: fits a phone whole
    ("team with a long name ok", 1.2),
    ("Ωμέγα 🚀 détecteurs", 0.9),
    ("<script>x</script>", 0.6),
    ("W" * 40, 0.3),  # no word: a phone shows it in the table's own scroll box, unbroken
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

# Elements that end beyond the viewport, unless a scroll box of their own holds them.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const boxed = el => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > width + 0.5 || r.left < -0.5) && !boxed(el)) {
      out.push(`${el.tagName}.${el.className} [${Math.round(r.left)}, ${Math.round(r.right)}]: `
               + (el.innerText || '').slice(0, 40));
    }
  }
  return {page: document.scrollingElement.scrollWidth, width, out};
}"""

# Words (letters and digits) whose characters lie on more than one line: broken inside, though
# they would fit a line of their box. Code and the one-time token are no words and may wrap; a
# "word" wider than its whole box (a team called WWW...W in a heading) has to.
BROKEN_WORDS_JS = """() => {
  const broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('code, pre, script, style')) continue;
    for (const m of node.data.matchAll(/[\\p{L}\\p{N}]{2,}/gu)) {
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const rects = [...range.getClientRects()];
      const tops = new Set(rects.map(r => Math.round(r.top)));
      const width = rects.reduce((sum, r) => sum + r.width, 0);
      if (tops.size > 1 && width <= node.parentElement.closest('*:not(a):not(span)').clientWidth) {
        broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def challenge(tmp_path_factory):
    """A small challenge from `challenge generate`: public files and the answer key."""
    data = tmp_path_factory.mktemp("challenge")
    generate = [str(BIN / "challenge"), "generate", "--preset", "demo", "--n-train", "60",
                "--n-test", "200", "--record-length", "256", "--out-dir", str(data), "--quiet"]  # fmt: skip
    subprocess.run(generate, check=True, capture_output=True, timeout=120)
    return data


@pytest.fixture(scope="module")
def server(tmp_path_factory, challenge):
    """A running site with teams, submissions and a final; the settings the pages describe."""
    site = make_site(tmp_path_factory.mktemp("site") / "site")
    key_path = challenge / "private" / "answer_key.csv"
    site.key = pd.read_csv(key_path)
    settings = {
        "LEADERBOARD_ANSWER_KEY": str(key_path),
        "LEADERBOARD_PUBLIC_DATA": str(challenge / "public"),
        "LEADERBOARD_OPEN_AT": "2026-01-05T08:00Z",
        "LEADERBOARD_CLOSE_AT": "2099-03-06T16:00Z",
        "LEADERBOARD_PRIZE": "a poster slot at the school's closing session",
        "LEADERBOARD_MAX_TEAM_SIZE": "4",
    }
    with live_server(site, **settings) as live:
        tokens = {}
        for number, (name, skill) in enumerate(TEAMS):
            tokens[name] = register(live.url, name)
            for seed in (number, number + 100):
                data = _submission(site.key, skill=skill, seed=seed)
                assert upload(live.url, tokens[name], data, note="x").status_code == 201
        yield site, live, tokens, settings


def _submission(key: pd.DataFrame, *, skill: float, seed: int) -> bytes:
    from tests.hostile.harness import submission_bytes

    return submission_bytes(key, seed=seed, skill=skill)


def check_page(page, url: str, shots: Path, label: str) -> None:
    """Load ``url`` and check its layout; keep a screenshot."""
    response = page.goto(url)
    assert response.status < 500, (url, response.status)
    layout = page.evaluate(OVERFLOW_JS)
    assert layout["page"] <= layout["width"], f"{label}: the page scrolls sideways {layout}"
    assert not layout["out"], f"{label}: elements off the screen: {layout['out']}"
    broken = page.evaluate(BROKEN_WORDS_JS)
    assert not broken, f"{label}: words broken inside: {broken}"
    page.screenshot(path=str(shots / f"{label}.png"), full_page=True)


def new_page(browser, size: str, **options):
    context = browser.new_context(viewport=SIZES[size], is_mobile=size == "phone",
                                  has_touch=size == "phone", **options)  # fmt: skip
    return context, context.new_page()


def log_in(page, url: str, path: str, token: str) -> None:
    page.goto(url + path)
    page.fill("input[name=token]", token)
    page.click("main form button[type=submit]")


ANONYMOUS = ["/", "/overview", "/data", "/evaluation", "/rules", "/register", "/login",
             "/teams/1", "/teams/6", "/no-such-page"]  # fmt: skip


@pytest.mark.timeout(300)
@pytest.mark.parametrize("size", SIZES)
def test_every_page_fits_before_and_after_the_reveal(browser, server, tmp_path, size):
    site, live, tokens, _ = server
    shots = tmp_path
    context, page = new_page(browser, size)
    try:
        for path in ANONYMOUS:
            check_page(page, live.url + path, shots, f"{size}-anonymous{path.replace('/', '-')}")
        log_in(page, live.url, "/login", tokens["Quarks"])
        page.wait_for_url(re.compile(r".*/submit$"))
        page.goto(live.url + "/teams/1")
        page.click("tbody tr:first-child button:has-text('Mark final')")
        for path in ["/submit", "/teams/1", "/"]:
            check_page(page, live.url + path, shots, f"{size}-team{path.replace('/', '-')}")
        mine = page.locator("tr.mine")
        assert mine.count() == 1 and "Quarks" in mine.inner_text()
        assert mine.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        page.click("nav button:has-text('Log out')")
        log_in(page, live.url, "/admin/login", site.env()["LEADERBOARD_ADMIN_TOKEN"])
        page.wait_for_url(re.compile(r".*/admin/$"))
        check_page(page, live.url + "/admin/", shots, f"{size}-organizer-admin")
        assert page.locator("table.preview tbody tr").count() == len(TEAMS)
    finally:
        context.close()
    print(f"\n[browser] {size} screenshots: {shots}")


@pytest.mark.timeout(300)
def test_the_final_ranking_fits_both_sizes(browser, server, tmp_path):
    """Runs after the pages above (pytest keeps file order): the reveal is final."""
    site, live, _, settings = server
    revealed = run_cli(site, "reveal", **settings)
    assert revealed.returncode == 0, revealed.stderr
    for size in SIZES:
        context, page = new_page(browser, size)
        try:
            for path in ["/", "/teams/1", "/overview"]:
                check_page(
                    page, live.url + path, tmp_path, f"{size}-revealed{path.replace('/', '-')}"
                )
        finally:
            context.close()
    print(f"\n[browser] revealed screenshots: {tmp_path}")


def test_times_show_in_the_viewers_zone(browser, server):
    _, live, _, _ = server
    context, page = new_page(browser, "desktop", timezone_id="Asia/Tokyo", locale="en-GB")
    try:
        page.goto(live.url + "/overview")
        opens = page.locator("time.local").first
        assert opens.inner_text() == "2026-01-05 08:00 UTC"
        local = page.locator("span.localtime").first.inner_text()
        assert "17:00" in local and ("JST" in local or "GMT+9" in local), local
    finally:
        context.close()
