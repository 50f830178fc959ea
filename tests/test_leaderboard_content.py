"""The challenge pages: /overview, /data, /evaluation and /rules, their defaults from the settings,
the organizers' Markdown (rendered without raw HTML), and the public files with range requests."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from leaderboard import create_app
from leaderboard.config import ConfigError

PAGES = ["/overview", "/data", "/evaluation", "/rules"]


def text_of(html: str) -> str:
    """The page's text with tags dropped and spaces collapsed, to compare sentences."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_every_page_links_to_the_challenge_pages(api, client):
    token = api.register("alpha")
    api.submit(token, api.submission())
    for path in ["/", "/login", "/register", "/teams/1", *PAGES, "/no-such-page"]:
        html = client.get(path).get_data(as_text=True)
        for page in PAGES:
            assert f'<a href="{page}"' in html, (path, page)


def test_overview_timeline_and_prize_from_the_settings(app_config, make_app):
    app = make_app({**app_config, "OPEN_AT": "2026-03-02T09:00Z", "CLOSE_AT": "2026-03-06T16:00Z",
                    "REVEAL_AT": "2026-03-06T18:30+01:00", "PRIZE": "a GPU for the <winners>"})  # fmt: skip
    html = app.test_client().get("/overview").get_data(as_text=True)
    for label, moment in [("open", "2026-03-02T09:00:00+00:00"),
                          ("close", "2026-03-06T16:00:00+00:00"),
                          ("revealed", "2026-03-06T17:30:00+00:00")]:  # fmt: skip
        shown = moment[:10] + " " + moment[11:16] + " UTC"
        assert f'<time class="local" datetime="{moment}">{shown}</time>' in html, label
    assert "(planned)" in html
    assert "a GPU for the &lt;winners&gt;" in html
    assert "ranked by ROC AUC" in text_of(html)


def test_overview_without_times_says_so(client):
    text = text_of(client.get("/overview").get_data(as_text=True))
    assert "Submissions open now" in text
    assert "Submissions close when the organizers reveal the final ranking" in text
    assert "No prize is announced" in text


def test_the_reveal_time_replaces_the_plan(api, client, runner, clock):
    assert runner.invoke(["reveal"]).exit_code == 0
    html = client.get("/overview").get_data(as_text=True)
    assert f'datetime="{clock().isoformat()}"' in html and "(planned)" not in html


def test_rules_follow_the_settings(app_config, make_app):
    app = make_app({**app_config, "DAILY_QUOTA": 4, "MAX_FINALS": 3, "MAX_TEAM_SIZE": 5,
                    "LATE_SUBMISSIONS": True, "SIMULATED_TRAINING_DATA": "forbidden",
                    "REGISTRATION": "closed"})  # fmt: skip
    text = text_of(app.test_client().get("/rules").get_data(as_text=True))
    assert "Quota 4 accepted submissions per team per UTC day; refused files do not count" in text
    assert "accepted model" not in text  # predictions mode: no models to accept
    assert "Finals mark up to 3 scored submissions as final" in text
    assert "Late submissions taken after the close, scored and listed apart as late" in text
    assert "Team size at most 5 people; each person joins one team only" in text
    assert "Self-simulated training data forbidden" in text
    assert "with the public simulator is forbidden" in text
    assert "Registration closed: the organizers add the teams" in text


def test_rules_defaults(client):
    text = text_of(client.get("/rules").get_data(as_text=True))
    assert "Quota 3 accepted submissions" in text  # the test config's quota
    assert "Late submissions refused after the close" in text
    assert "Team size as many people as you like; each person joins one team only" in text
    assert "Self-simulated training data allowed" in text


def test_the_invite_register_page_says_where_a_code_comes_from(app_config, make_app):
    app = make_app({**app_config, "REGISTRATION": "invite"})
    text = text_of(app.test_client().get("/register").get_data(as_text=True))
    assert "the organizers hand one to each team" in text and "each code registers one team" in text
    app = make_app({**app_config, "REGISTRATION": "open"})
    assert "invite" not in app.test_client().get("/register").get_data(as_text=True).lower()


def test_the_challenges_own_rule_on_simulated_data_wins(app_config, make_app, tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    rule = "Train only on train.root."
    (public / "challenge.json").write_text(
        json.dumps({"simulated_training_data": "forbidden", "simulated_training_data_rule": rule})
    )
    app = make_app({**app_config, "PUBLIC_DATA": str(public)})
    text = text_of(app.test_client().get("/rules").get_data(as_text=True))
    assert "Self-simulated training data forbidden" in text
    assert "with the public simulator is forbidden . " + rule in text  # (tags become spaces)
    (public / "challenge.json").write_text("{not json")  # unreadable: the setting decides
    assert "Self-simulated training data allowed" in text_of(
        app.test_client().get("/rules").get_data(as_text=True)
    )


def test_a_bad_rule_setting_is_refused(app_config):
    with pytest.raises(ConfigError, match="SIMULATED_TRAINING_DATA='maybe'"):
        create_app({**app_config, "SIMULATED_TRAINING_DATA": "maybe"})


def test_evaluation_explains_the_split_and_what_counts(client, answer_key):
    text = text_of(client.get("/evaluation").get_data(as_text=True))
    n_public = int((answer_key["split"] == "public").sum())
    assert f"Public split {n_public} test events, scored at once" in text
    assert f"Private split {len(answer_key) - n_public} test events" in text
    assert "Metric ROC AUC, higher is better (DeLong 95% interval)" in text
    assert "up to 2 submissions marked final, else the best public one" in text
    assert "p-value" in text and "rank interval" in text


HOSTILE = """# Our rules

<script>alert("page")</script>
<img src=x onerror="alert('img')">
[a link](javascript:alert('link')) and [another](vbscript:msgbox) and ![pic](data:text/html,x)
[fine](https://example.org/rules)

| a | b |
|---|---|
| 1 | 2 |
"""


def test_the_organizers_markdown_replaces_the_default_and_carries_no_script(app_config, make_app,
                                                                             tmp_path):  # fmt: skip
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "rules.md").write_text(HOSTILE)
    app = make_app({**app_config, "INSTANCE_PATH": str(instance), "DAILY_QUOTA": 6})
    html = app.test_client().get("/rules").get_data(as_text=True)
    assert "<h1>Our rules</h1>" in html and "Fair play" not in html
    assert "Quota</th><td>6 accepted" in html  # the settings' facts stay
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
    assert 'href="javascript' not in html and 'href="vbscript' not in html
    assert "[a link](javascript:alert" in html  # left as text
    assert 'src="data:text' not in html
    assert '<a href="https://example.org/rules">fine</a>' in html
    assert "<table>" in html and "<td>1</td>" in html


@pytest.fixture
def public_data(tmp_path):
    """A public folder with two files, a hidden one and a subfolder that must stay out of reach."""
    public = tmp_path / "public"
    (public / "private").mkdir(parents=True)
    (public / "private" / "answer_key.csv").write_text("event_id,label,split\n")
    (public / ".secret").write_text("hidden")
    (public / "DATACARD.md").write_text(
        "# Data card\n\n| split | events |\n|---|---|\n| train | 7 |\n"
    )
    (public / "train.root").write_bytes(bytes(range(256)) * 40)
    return public


def test_data_page_lists_the_public_files_and_shows_the_data_card(app_config, make_app,
                                                                  public_data):  # fmt: skip
    client = make_app({**app_config, "PUBLIC_DATA": str(public_data)}).test_client()
    html = client.get("/data").get_data(as_text=True)
    links = re.findall(r'href="(/data/files/[^"]+)"', html)
    assert links == ["/data/files/DATACARD.md", "/data/files/train.root"]
    assert '<td class="number">10 kB</td>' in html  # 10,240 bytes
    assert '<h2 id="datacard">Data card</h2>' in html and "<td>7</td>" in html
    assert len(re.findall("<h1", html)) == 1  # the card's title is a section of the page
    assert "TTree <code>events</code>" in html and "`" not in text_of(html)
    with client.get("/data/files/train.root") as response:
        assert response.status_code == 200
        assert response.data == (public_data / "train.root").read_bytes()
        assert response.headers["Accept-Ranges"] == "bytes"
        assert "attachment" in response.headers["Content-Disposition"]
    for name in [".secret", "private", "private/answer_key.csv", "..%2Fanswer_key.csv", "nope"]:
        assert client.get(f"/data/files/{name}").status_code == 404, name


def test_a_range_request_gets_the_rest_of_a_file(app_config, make_app, public_data):
    client = make_app({**app_config, "PUBLIC_DATA": str(public_data)}).test_client()
    data = (public_data / "train.root").read_bytes()
    with client.get("/data/files/train.root") as whole:
        etag = whole.headers["ETag"]
    rest = {"Range": "bytes=1000-", "If-Range": etag}
    with client.get("/data/files/train.root", headers=rest) as part:
        assert part.status_code == 206 and part.data == data[1000:]
        assert part.headers["Content-Range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    changed = {**rest, "If-Range": '"another"'}
    with client.get("/data/files/train.root", headers=changed) as again:
        assert again.status_code == 200 and again.data == data  # the file changed: all of it


def test_without_public_data_there_are_no_downloads(client):
    html = client.get("/data").get_data(as_text=True)
    assert "/data/files/" not in html and "The organizers hand out these files" in html
    assert client.get("/data/files/train.root").status_code == 404


@pytest.mark.parametrize("where", ["parent", "private", "missing"])
def test_public_data_that_holds_the_answer_key_is_refused(app_config, tmp_path, where):
    key = tmp_path / "challenge" / "private" / "answer_key.csv"
    key.parent.mkdir(parents=True)
    key.write_text((tmp_path / "answer_key.csv").read_text())
    folder = {"parent": key.parent.parent, "private": key.parent, "missing": tmp_path / "nope"}
    with pytest.raises(ConfigError, match="LEADERBOARD_PUBLIC_DATA="):
        create_app({**app_config, "ANSWER_KEY": str(key), "PUBLIC_DATA": str(folder[where])})


@pytest.mark.parametrize(
    ("n_bytes", "shown"),
    [(0, "0 bytes"), (999, "999 bytes"), (1000, "1.0 kB"), (9_949, "9.9 kB"), (10_240, "10 kB"),
     (237_000_000, "237 MB"), (52_428_800, "52 MB"), (4_200_000_000, "4.2 GB")],
)  # fmt: skip
def test_file_size(n_bytes, shown):
    from leaderboard.content import file_size

    assert file_size(n_bytes) == shown


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_cut_download_of_a_real_root_file_resumes_on_a_real_server(tmp_path):
    """`challenge generate` writes the files, `leaderboard serve` offers them; a download cut
    halfway resumes with a range request, and uproot reads the joined file."""
    import subprocess

    import numpy as np
    import requests
    import uproot

    from tests.hostile.harness import BIN, live_server, make_site

    data = tmp_path / "challenge"
    generate = [str(BIN / "challenge"), "generate", "--preset", "demo", "--n-train", "40",
                "--n-test", "40", "--record-length", "256", "--seed", "1", "--out-dir", str(data),
                "--quiet"]  # fmt: skip
    subprocess.run(generate, check=True, capture_output=True, timeout=120)
    original = (data / "public" / "train.root").read_bytes()
    site = make_site(tmp_path / "site")
    env = {"LEADERBOARD_ANSWER_KEY": str(data / "private" / "answer_key.csv"),
           "LEADERBOARD_PUBLIC_DATA": str(data / "public")}  # fmt: skip
    with live_server(site, **env) as live:
        page = requests.get(live.url + "/data", timeout=10).text
        assert 'href="/data/files/train.root"' in page and 'href="/data/files/test.root"' in page
        url = live.url + "/data/files/train.root"
        with requests.get(url, stream=True, timeout=10) as first:
            etag = first.headers["ETag"]
            received = b""
            for chunk in first.iter_content(chunk_size=4096):
                received += chunk
                if len(received) >= len(original) // 2:
                    break  # the connection drops halfway
        resume = {"Range": f"bytes={len(received)}-", "If-Range": etag}
        rest = requests.get(url, headers=resume, timeout=10)
    assert rest.status_code == 206
    assert (
        rest.headers["Content-Range"]
        == f"bytes {len(received)}-{len(original) - 1}/{len(original)}"
    )
    joined = tmp_path / "train.root"
    joined.write_bytes(received + rest.content)
    assert joined.read_bytes() == original
    with uproot.open(joined) as copy, uproot.open(data / "public" / "train.root") as source:
        assert np.array_equal(copy["events"]["pulse"].array(library="np"),
                              source["events"]["pulse"].array(library="np"))  # fmt: skip


def test_scripts_come_only_from_this_site(client):
    response = client.get("/overview")
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'"  # no inline script, no CDN
    assert '<script src="/static/localtime.js" defer></script>' in response.get_data(as_text=True)
    with client.get("/static/localtime.js") as script:
        assert script.status_code == 200 and "time.local" in script.get_data(as_text=True)


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory):
    """A tiny challenge of model submissions, as `challenge generate --submissions models` makes it."""
    from challenge.generate import generate_challenge

    out = tmp_path_factory.mktemp("models")
    generate_challenge(out, n_train=20, n_test=40, record_length=64, seed=1,
                       submissions="models", progress=False)  # fmt: skip
    return out


@pytest.fixture
def models_client(app_config, make_app, models_folder, tmp_path):
    app = make_app({**app_config, "SUBMISSIONS": "models",
                    "ANSWER_KEY": str(models_folder / "private" / "answer_key.csv"),
                    "PUBLIC_DATA": str(models_folder / "public"),
                    "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.sqlite'}"})  # fmt: skip
    return app.test_client()


def test_rules_of_model_submissions_say_a_failed_model_counts(models_client):
    text = text_of(models_client.get("/rules").get_data(as_text=True))
    assert (
        "Quota 3 accepted submissions per team per UTC day; refused files do not count, an "
        "accepted model counts whether it is scored or fails"
    ) in text


def test_with_models_the_pages_say_to_upload_a_model_and_how(models_client, client):
    overview = text_of(models_client.get("/overview").get_data(as_text=True))
    for words in ("The test records stay on this server: you upload the model itself",
                  "baselines export runs/cnn/checkpoint.pt -o model.onnx",
                  "challenge check-model model.onnx --data DIR",
                  "challenge submit model.onnx --url"):  # fmt: skip
        assert words in overview
    assert "event_id,score" not in overview and "challenge validate" not in overview
    evaluation = text_of(models_client.get("/evaluation").get_data(as_text=True))
    assert "How a model is scored" in evaluation
    assert "at most 50 MB" in evaluation and "at most 60 s of wall time and 4.3 GB of memory" in (
        evaluation
    )  # the settings' defaults: 50 MB and 4 GiB
    for page in ("/overview", "/evaluation", "/data"):  # prediction files: as before
        text = text_of(client.get(page).get_data(as_text=True))
        assert "check-model" not in text and "How a model is scored" not in text


def test_with_models_the_data_page_offers_no_test_file(models_client, models_folder):
    html = models_client.get("/data").get_data(as_text=True)
    links = re.findall(r'href="(/data/files/[^"]+)"', html)
    assert links == [
        f"/data/files/{name}" for name in ("DATACARD.md", "challenge.json", "train.root")
    ]
    text = text_of(html)
    assert "there is no test file to download" in text and "challenge check-model" in text
    copied = models_folder / "public" / "test.root"  # copied there while the server runs
    shutil.copy(models_folder / "private" / "test.root", copied)
    try:
        assert models_client.get("/data/files/test.root").status_code == 404
        assert "/data/files/test.root" not in models_client.get("/data").get_data(as_text=True)
    finally:
        copied.unlink()


@pytest.mark.parametrize(
    ("card", "headings"),
    [
        ("# Data card: pulses\n\n## Units\n\ntext\n", ["h2 id=datacard: Data card: pulses",
                                                          "h3: Units"]),
        ("Some text first.\n\n## Units\n\n#### Deep\n\n###### Deepest\n",
         ["h2 id=datacard: Data card", "h3: Units", "h5: Deep", "h6: Deepest"]),
    ],
)  # fmt: skip
def test_the_data_cards_headings_sit_under_the_page_title(app_config, make_app, tmp_path, card,
                                                          headings):  # fmt: skip
    """Its title is the section's heading (no "Data card" heading over "Data card: ..."), the
    rest one level down; a card without a title gets "Data card"."""
    public = tmp_path / "public"
    public.mkdir()
    (public / "DATACARD.md").write_text(card)
    client = make_app({**app_config, "PUBLIC_DATA": str(public)}).test_client()
    html = client.get("/data").get_data(as_text=True)
    found = re.findall(
        r'<(h\d)( id="datacard")?>([^<]*)</h\d>', html.split('class="markdown datacard"')[1]
    )
    assert [f"{tag}{' id=datacard' if anchor else ''}: {text}" for tag, anchor, text in found] == (
        headings
    )
    assert html.count('id="datacard"') == 1


def test_with_models_and_no_downloads_the_data_page_lists_no_test_file(app_config, make_app,
                                                                      models_folder, tmp_path):  # fmt: skip
    app = make_app({**app_config, "SUBMISSIONS": "models",
                    "ANSWER_KEY": str(models_folder / "private" / "answer_key.csv"),
                    "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.sqlite'}"})  # fmt: skip
    html = app.test_client().get("/data").get_data(as_text=True)
    assert "The organizers hand out these files: train.root" in text_of(html)
    listed = re.findall(r"<li><code>([^<]+)</code>", html.split('id="datacard"')[0])
    assert listed == ["train.root", "DATACARD.md", "challenge.json"]
