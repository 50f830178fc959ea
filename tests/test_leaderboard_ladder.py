"""The Ladder public board (leaderboard.ladder): a team's shown public score moves only on a
significant improvement, every public number is rounded to what the public split resolves, and
two attacks of issue 21 run through a live server: boosting with random uploads, and probing
labels with tie groups. ``LEADERBOARD_PUBLIC_BOARD=plain`` shows what each attack gets from a
plain board (today's), so that each test shows the attack working there and failing here."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
import requests

from challenge.metrics import RocAuc, delong_test, roc_auc_score
from challenge.planning import DEFAULT_AUC, resolvable_difference
from leaderboard import ladder
from tests.conftest import make_answer_key
from tests.hostile.harness import Site, live_server, register, upload

# The demo preset's public split: 30% of 2,000 test events, half of them carriers.
N_PUBLIC, N_PRIVATE = 600, 600
DIGITS = 2  # what that split resolves: about 0.009 at an AUC of 0.98


def test_the_public_split_of_the_demo_preset_resolves_two_digits():
    delta = resolvable_difference(DEFAULT_AUC, N_PUBLIC // 2, N_PUBLIC // 2)
    assert 0.0032 < delta < 0.032  # the power of ten nearest it is 0.01
    assert round(-math.log10(delta)) == DIGITS


@pytest.mark.parametrize("seed", range(5))
def test_an_improvement_is_the_one_sided_delong_test(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 400)
    best = labels + rng.normal(size=400) * 1.5
    new = labels + rng.normal(size=400) * (1.5 - 0.15 * seed)
    z, p = delong_test(labels, new, best)
    one_sided = p / 2 if z > 0 else 1 - p / 2
    metric = RocAuc()
    for level in (one_sided * 0.999, one_sided * 1.001):
        expected = bool(one_sided < level)  # a one-sided p-value below 0.5 means z > 0
        assert ladder.is_improvement(labels, new, best, metric, level=level) is expected
    assert not ladder.is_improvement(labels, best, best, metric, level=0.5)  # no gain, no step


def csv_of(key: pd.DataFrame, scores: np.ndarray) -> bytes:
    buffer = io.StringIO()
    pd.DataFrame({"event_id": key["event_id"], "score": scores}).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def public_auc(key: pd.DataFrame, scores: np.ndarray) -> float:
    public = (key["split"] == "public").to_numpy()
    return roc_auc_score(key["label"].to_numpy()[public], scores[public])


@pytest.fixture
def ladder_key(tmp_path) -> pd.DataFrame:
    key = make_answer_key(N_PUBLIC, N_PRIVATE, seed=3)
    key.to_csv(tmp_path / "answer_key.csv", index=False)  # where app_config points
    return key


def skilled(key: pd.DataFrame, skill: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(skill * key["label"].to_numpy() + rng.normal(size=len(key)), 6)


def test_a_team_sees_a_new_public_score_only_when_it_beats_its_best(
    app_config, make_app, ladder_key
):
    app = make_app(app_config | {"PUBLIC_BOARD": "ladder", "DAILY_QUOTA": 10})
    client = app.test_client()
    token = client.post("/api/teams", json={"name": "climber"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    scores = [skilled(ladder_key, 1.0, 1), skilled(ladder_key, 1.05, 2), skilled(ladder_key, 3, 3)]
    exact = [public_auc(ladder_key, s) for s in scores]
    bodies = []
    for s in scores:
        response = client.post(
            "/api/submissions", headers=headers, content_type="multipart/form-data",
            data={"file": (io.BytesIO(csv_of(ladder_key, s)), "s.csv")},
        )  # fmt: skip
        assert response.status_code == 201
        bodies.append(response.get_json())
    first, second, third = bodies
    assert first["public_auc"] == round(exact[0], DIGITS) and first["public_digits"] == DIGITS
    # The second is close to the first: no figure at all, only the Ladder's answer.
    assert second["public_auc"] is None and second["public_auc_ci"] is None
    assert second["public_withheld"] == "not a significant improvement over your best"
    assert set(second) == {"id", "team", "metric", "remaining_today", "sha256", "rows",
                           "public_auc", "public_auc_ci", "public_withheld"}  # fmt: skip
    assert third["public_auc"] == round(exact[2], DIGITS)
    listed = client.get("/api/submissions", headers=headers).get_json()["submissions"]
    assert [item["public_auc"] for item in listed] == [
        round(exact[0], DIGITS),
        None,
        round(exact[2], DIGITS),
    ]
    board = client.get("/api/leaderboard").get_json()
    assert board["rows"][0]["public_auc"] == round(exact[2], DIGITS)
    lo, hi = board["rows"][0]["public_auc_ci"]
    assert (lo, hi) == (round(lo, DIGITS), round(hi, DIGITS))
    page = client.get("/teams/1").get_data(as_text=True)
    assert "not a significant improvement over your best" in page
    assert f"{exact[1]:.4f}" not in page and f"{exact[1]:.2f}" not in page.replace(
        f"{exact[0]:.2f}", ""
    ).replace(f"{exact[2]:.2f}", "")
    lesson = client.get("/evaluation").get_data(as_text=True)
    assert "why a 0.002 gain is not a gain" in lesson and "at level 0.05" in lesson
    assert "rounded\nto 2 decimals" in lesson or "rounded to 2 decimals" in lesson
    assert "a Ladder" in client.get("/rules").get_data(as_text=True)
    # A plain board shows each score in full: today's board.
    plain = make_app(app_config | {"PUBLIC_BOARD": "plain", "DAILY_QUOTA": 10})
    listed = plain.test_client().get("/api/submissions", headers=headers).get_json()
    assert [item["public_auc"] for item in listed["submissions"]] == pytest.approx(exact)
    assert "0.002 gain" not in plain.test_client().get("/evaluation").get_data(as_text=True)


def test_the_board_ranks_by_what_the_ladder_accepted(app_config, make_app, ladder_key):
    """A team's lucky second upload (not significant) does not lift it on a Ladder board."""
    app = make_app(app_config | {"PUBLIC_BOARD": "ladder", "DAILY_QUOTA": 10})
    client = app.test_client()
    tokens = [client.post("/api/teams", json={"name": n}).get_json()["token"] for n in "ab"]
    uploads = [(0, skilled(ladder_key, 1.0, 1)), (1, skilled(ladder_key, 1.05, 10)),
               (0, skilled(ladder_key, 1.08, 17))]  # fmt: skip
    for team, s in uploads:
        client.post("/api/submissions", headers={"Authorization": f"Bearer {tokens[team]}"},
                    content_type="multipart/form-data",
                    data={"file": (io.BytesIO(csv_of(ladder_key, s)), "s.csv")})  # fmt: skip
    exact = [public_auc(ladder_key, s) for _, s in uploads]
    assert exact[2] > exact[1] > exact[0]  # a's best upload is the best, but not by enough
    rows = client.get("/api/leaderboard").get_json()["rows"]
    assert [(r["team"], r["public_auc"]) for r in rows] == [
        ("b", round(exact[1], DIGITS)),
        ("a", round(exact[0], DIGITS)),
    ]
    plain = make_app(app_config | {"PUBLIC_BOARD": "plain"}).test_client()
    rows = plain.get("/api/leaderboard").get_json()["rows"]
    assert [(r["team"], r["public_auc"]) for r in rows] == [("a", exact[2]), ("b", exact[1])]


def random_scores(key: pd.DataFrame, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.round(rng.normal(size=len(key)), 6) for _ in range(count)]


def shown_value(response: requests.Response) -> float | None:
    assert response.status_code == 201, response.text
    return response.json()["public_auc"]


def boost(url: str, key: pd.DataFrame, uploads: int) -> float:
    """Blum & Hardt's boosting attack: upload random scores, keep the sign of each shown public
    AUC minus 0.5 (none when no figure is shown), upload the signed sum; its true public AUC."""
    token = register(url, "booster")
    combined = np.zeros(len(key))
    for scores in random_scores(key, uploads, seed=11):
        value = shown_value(upload(url, token, csv_of(key, scores)))
        if value is not None:
            combined += np.sign(value - 0.5) * scores
    shown_value(upload(url, token, csv_of(key, np.round(combined, 6))))
    return public_auc(key, combined)


def make_ladder_site(root) -> Site:
    root.mkdir(parents=True, exist_ok=True)
    key = make_answer_key(N_PUBLIC, N_PRIVATE, seed=3)
    site = Site(root, f"sqlite:///{root / 'leaderboard.sqlite'}", key)
    key.to_csv(site.answer_key_path, index=False)
    return site


# The standard error of a random submission's AUC on 300 + 300 events (Mann-Whitney's null).
NULL_SE = math.sqrt((N_PUBLIC + 1) / (12 * (N_PUBLIC // 2) ** 2))


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_boosting_with_120_random_uploads_gains_nothing_on_the_ladder(tmp_path):
    """Issue 21: 120 random uploads by one team (quota raised) and their boosted combination.
    On a plain board the combination's true public AUC is far above chance; on the Ladder it
    stays within 2.5 standard errors of 0.5."""
    found = {}
    for board in ("plain", "ladder"):
        site = make_ladder_site(tmp_path / board)
        with live_server(site, LEADERBOARD_PUBLIC_BOARD=board) as server:
            found[board] = boost(server.url, site.key, 120)
    assert found["plain"] > 0.5 + 4 * NULL_SE, found
    assert abs(found["ladder"] - 0.5) < 2.5 * NULL_SE, found


def probe_labels(url: str, key: pd.DataFrame, uploads: int) -> dict[int, int]:
    """The tie-group probe of issue 21 with groups of one event: score 1 for the event, 0 for
    every other; with the public class counts known (challenge.json published them), a public
    AUC of 0.5 + 0.5 / n_carrier says carrier and 0.5 - 0.5 / n_absorber absorber. The labels
    it recovers, by event id."""
    public = key[key["split"] == "public"]
    n_carrier = int(public["label"].sum())
    n_absorber = len(public) - n_carrier
    token = register(url, "prober")
    recovered = {}
    for event_id in probed(key, uploads):
        scores = (key["event_id"].to_numpy() == event_id).astype(float)
        value = shown_value(upload(url, token, csv_of(key, scores)))
        if value is None:
            continue
        if math.isclose(value, 0.5 + 0.5 / n_carrier, abs_tol=1e-12):
            recovered[int(event_id)] = 1
        elif math.isclose(value, 0.5 - 0.5 / n_absorber, abs_tol=1e-12):
            recovered[int(event_id)] = 0
    return recovered


def probed(key: pd.DataFrame, uploads: int) -> np.ndarray:
    """The events probed, public and private mixed, one per upload."""
    return np.random.default_rng(5).permutation(key["event_id"].to_numpy())[:uploads]


QUOTA = 10  # the default daily quota
DAYS = 30


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_the_tie_group_probe_recovers_no_label_within_a_month_of_quota(tmp_path):
    """Issue 21: one upload per event, a month of the default quota. A plain board gives every
    public event's label; the Ladder none."""
    found = {}
    for board, uploads in (("plain", 40), ("ladder", QUOTA * DAYS)):
        site = make_ladder_site(tmp_path / board)
        with live_server(site, LEADERBOARD_PUBLIC_BOARD=board) as server:
            found[board] = probe_labels(server.url, site.key, uploads)
    truth = dict(zip(site.key["event_id"], site.key["label"], strict=True))
    public = set(site.key.loc[site.key["split"] == "public", "event_id"])
    assert found["plain"] and all(truth[e] == label for e, label in found["plain"].items())
    assert set(found["plain"]) == public & set(probed(site.key, 40))
    assert found["ladder"] == {}
