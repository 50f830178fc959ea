"""Every page of the site in Debian's chromium at a phone's 390 px and a desktop's 1280 px, with
20 teams and long names: no element runs off the screen, no word breaks inside, at 1280 px no
table needs a sideways scroll, on a phone each row's "Mark final" is in view, the viewer's team
stands out, times show in the viewer's zone. Screenshots of each page at each size go to the
test's folder (printed with -s).

The server is a real `leaderboard serve` on a challenge made by `challenge generate`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import requests

from tests.hostile.harness import BIN, live_server, make_site, register, run_cli, upload
from tests.test_reliability_browser import CHROMIUM, chromium

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
TEAMS = [  # name -> skill of its submissions: 20 teams, many with long names (at most 40 characters)
    ("Quarks", 2.0),
    ("Dunkelmateriedetektorgruppe", 1.9),  # a long real word: fits a phone whole
    ("team with a long name ok", 1.8),
    ("Ωμέγα 🚀 détecteurs", 1.7),
    ("<script>x</script>", 1.6),
    ("W" * 40, 1.5),  # no word: a phone shows it in the table's own scroll box, unbroken
    ("Université Paris-Saclay cryo group, Tue.", 1.45),
    ("afternoon tutorial table seven (window)", 1.4),
    ("Max-Planck-Institut für Physik students", 1.35),
    ("phonon-and-light-channel enthusiasts", 1.3),
    ("CRESST fans", 1.25),
    ("noise is a feature", 1.2),
    ("boosted decision trees forever and ever", 1.15),
    ("Gran Sasso night shift", 1.1),
    ("transformers are overkill but we tried", 1.05),
    ("team 16", 1.0),
    ("pulse shape discrimination club, Munich", 0.9),
    ("absorber vs carrier: the rematch", 0.8),
    ("last-minute", 0.6),
    ("Kryo", 0.4),
]
REFERENCES = [  # long names of reference rows: they used to wrap onto four lines
    ("matched filter (physics reference, fitted on the training records only)", 2.2),
    ("starter network (the baseline to beat, two small layers)", 0.7),
]
LONG_NOTE = "cnn with the band-pass preprocessing, seed 3, after the fix of the learning rate"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

# Elements that end beyond the viewport, unless a scroll box of their own holds them; and, with
# strict, every scroll box whose content is wider than the box (a table that scrolls sideways).
OVERFLOW_JS = """(strict) => {
  const width = document.documentElement.clientWidth;
  const scrolls = el => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX);
  const boxed = el => {
    for (let p = el.parentElement; p; p = p.parentElement) if (scrolls(p)) return true;
    return false;
  };
  const describe = (el, r) => `${el.tagName}.${el.className} [${Math.round(r.left)}, `
                              + `${Math.round(r.right)}]: ` + (el.innerText || '').slice(0, 40);
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > width + 0.5 || r.left < -0.5) && !boxed(el)) out.push(describe(el, r));
    if (strict && scrolls(el) && el.scrollWidth > el.clientWidth + 1) {
      out.push('scrolls sideways: ' + describe(el, r) + ` (${el.scrollWidth} > ${el.clientWidth})`);
    }
  }
  return {page: document.scrollingElement.scrollWidth, width, out};
}"""

# Words (letters and digits) whose characters lie on more than one line: broken inside, though
# they would fit a line of their box (inside its padding). Code and the one-time token are no
# words and may wrap; a "word" wider than its whole box (a team called WWW...W) has to.
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
      const box = node.parentElement.closest('*:not(a):not(span)');
      const style = getComputedStyle(box);
      const inner = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      if (tops.size > 1 && width <= inner) {
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
                "--n-test", "200", "--record-length", "256", "--seed", "1",
                "--out-dir", str(data), "--quiet"]  # fmt: skip
    subprocess.run(generate, check=True, capture_output=True, timeout=120)
    return data


@pytest.fixture(scope="module")
def server(tmp_path_factory, challenge):
    """A running site with 20 teams, two long-named references and a final; the settings the
    pages describe."""
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
                uploaded = upload(live.url, tokens[name], data, note=LONG_NOTE,
                                  filename="cnn_bandpass_seed3_after_the_fix.csv")  # fmt: skip
                assert uploaded.status_code == 201
        for number, (name, skill) in enumerate(REFERENCES):
            path = site.root / f"reference{number}.csv"
            path.write_bytes(_submission(site.key, skill=skill, seed=500 + number))
            added = run_cli(site, "add-reference", name, str(path), **settings)
            assert added.returncode == 0, added.stderr
        yield site, live, tokens, settings


def _submission(key: pd.DataFrame, *, skill: float, seed: int) -> bytes:
    from tests.hostile.harness import submission_bytes

    return submission_bytes(key, seed=seed, skill=skill)


def check_page(page, url: str, shots: Path, label: str, *, strict: bool) -> None:
    """Load ``url`` and check its layout (``strict``: no table scrolls sideways either); keep a
    screenshot."""
    response = page.goto(url)
    assert response.status < 500, (url, response.status)
    page.screenshot(path=str(shots / f"{label}.png"), full_page=True)
    layout = page.evaluate(OVERFLOW_JS, strict)
    assert layout["page"] <= layout["width"], f"{label}: the page scrolls sideways {layout}"
    assert not layout["out"], f"{label}: elements off the screen: {layout['out']}"
    broken = page.evaluate(BROKEN_WORDS_JS)
    assert not broken, f"{label}: words broken inside: {broken}"


def new_page(browser, size: str, **options):
    context = browser.new_context(viewport=SIZES[size], is_mobile=size == "phone",
                                  has_touch=size == "phone", **options)  # fmt: skip
    return context, context.new_page()


def log_in(page, url: str, path: str, token: str) -> None:
    page.goto(url + path)
    page.fill("input[name=token]", token)
    page.click("main form button[type=submit]")


ANONYMOUS = ["/", "/overview", "/data", "/evaluation", "/rules", "/register", "/login",
             "/teams/1", "/teams/6", "/teams/7", "/no-such-page"]  # fmt: skip


def in_view(page, selector: str) -> dict:
    """Where the first ``selector`` lies, and whether all of it is on the screen as the page
    opens (no sideways scroll of the page or of a box around it)."""
    return page.locator(selector).first.evaluate(
        """el => {
          const r = el.getBoundingClientRect();
          const width = document.documentElement.clientWidth;
          let visible = r.left >= 0 && r.right <= width;
          for (let p = el.parentElement; p; p = p.parentElement) {
            const box = p.getBoundingClientRect();
            if (getComputedStyle(p).overflowX !== 'visible') {
              visible = visible && r.left >= box.left - 0.5 && r.right <= box.right + 0.5;
            }
          }
          return {left: r.left, right: r.right, width, visible};
        }"""
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("size", SIZES)
def test_every_page_fits_before_the_reveal(browser, server, tmp_path, size):
    site, live, tokens, _ = server
    shots, strict = tmp_path, size == "desktop"
    context, page = new_page(browser, size)
    try:
        for path in ANONYMOUS:
            check_page(page, live.url + path, shots, f"{size}-anonymous{path.replace('/', '-')}",
                       strict=strict)  # fmt: skip
        log_in(page, live.url, "/login", tokens["Quarks"])
        page.wait_for_url(re.compile(r".*/submit$"))
        page.goto(live.url + "/teams/1")
        mark = in_view(page, "button:text-is('Mark final')")
        assert mark["visible"], f"{size}: 'Mark final' needs a sideways scroll: {mark}"
        page.click("button:text-is('Mark final')")
        unmark = in_view(page, "button:text-is('Unmark final')")
        assert unmark["visible"], f"{size}: 'Unmark final' needs a sideways scroll: {unmark}"
        for path in ["/submit", "/teams/1", "/"]:
            check_page(page, live.url + path, shots, f"{size}-team{path.replace('/', '-')}",
                       strict=strict)  # fmt: skip
        mine = page.locator("tr.mine")
        assert mine.count() == 1 and "Quarks" in mine.inner_text()
        assert mine.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        page.click("nav button:has-text('Log out')")
        log_in(page, live.url, "/admin/login", site.env()["LEADERBOARD_ADMIN_TOKEN"])
        page.wait_for_url(re.compile(r".*/admin/$"))
        check_page(page, live.url + "/admin/", shots, f"{size}-organizer-admin", strict=strict)
        assert page.locator("table.preview tbody tr").count() == len(TEAMS) + len(REFERENCES)
        assert page.locator("button:has-text('Log out')").count() == 1  # one control, not two
        check_page(page, live.url + "/", shots, f"{size}-organizer-board", strict=strict)
    finally:
        context.close()
    print(f"\n[browser] {size} screenshots: {shots}")


def test_the_content_lines_up_with_the_navigation_and_uses_the_screen(browser, server):
    """At 1280 px the content is as wide as the navigation above it, on every kind of page."""
    site, live, _, _ = server
    context, page = new_page(browser, "desktop")
    try:
        log_in(page, live.url, "/admin/login", site.env()["LEADERBOARD_ADMIN_TOKEN"])
        page.wait_for_url(re.compile(r".*/admin/$"))
        for path in ["/admin/", "/", "/data", "/teams/1"]:
            page.goto(live.url + path)
            nav = page.locator("header nav").bounding_box()
            main = page.locator("main").bounding_box()
            assert abs(nav["x"] - main["x"]) <= 1 and abs(nav["width"] - main["width"]) <= 1, (
                path, nav, main)  # fmt: skip
            assert main["width"] >= 1200, (path, main)  # not a 660 px column on a 1280 px screen
    finally:
        context.close()


def test_the_data_page_reads_as_one_page(browser, server):
    """/data: no literal backticks, one title, the data card's own heading is the section's, and
    its tables sit on boxes as wide as they are."""
    _, live, _, _ = server
    context, page = new_page(browser, "desktop")
    try:
        page.goto(live.url + "/data")
        text = page.locator("main").inner_text()
        assert "`" not in text
        assert page.locator("h1").count() == 1
        headings = page.locator("main h2").all_inner_texts()
        assert not [h for h in headings if h.startswith("Data card:")] or "Data card" not in (
            headings
        ), headings  # a "Data card" heading over a "Data card: ..." one
        tables = page.locator(".markdown table")
        assert tables.count() >= 1
        for index in range(tables.count()):
            widths = tables.nth(index).evaluate(
                """t => ({box: t.getBoundingClientRect().width,
                          rows: Math.max(...[...t.rows].map(r => {
                            const cells = [...r.cells].map(c => c.getBoundingClientRect());
                            return cells[cells.length - 1].right - cells[0].left; }))})"""
            )
            assert widths["box"] <= widths["rows"] + 1, widths
    finally:
        context.close()


def test_the_site_serves_its_own_favicon(browser, server):
    _, live, _, _ = server
    context, page = new_page(browser, "desktop")
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    try:
        page.goto(live.url + "/")
        assert page.locator("link[rel=icon]").count() == 1
        icon = page.locator("link[rel=icon]").get_attribute("href")
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert not failed, failed  # the browser asked for no file that is missing
    response = requests.get(live.url + icon, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/")
    favicon = requests.get(live.url + "/favicon.ico", timeout=10)
    assert favicon.status_code == 200 and favicon.content == response.content


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
                check_page(page, live.url + path, tmp_path,
                           f"{size}-revealed{path.replace('/', '-')}", strict=size == "desktop")  # fmt: skip
            if size == "desktop":
                page.goto(live.url + "/")
                lines = page.locator("tbody td.team").evaluate_all(
                    """cells => cells.map(c => { const s = getComputedStyle(c);
                        return [c.innerText, (c.getBoundingClientRect().height
                          - parseFloat(s.paddingTop) - parseFloat(s.paddingBottom))
                          / parseFloat(s.lineHeight)]; })"""
                )
                tall = [(name, round(n, 1)) for name, n in lines if n > 2.1]
                assert not tall, f"names on more than two lines at 1280 px: {tall}"
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
