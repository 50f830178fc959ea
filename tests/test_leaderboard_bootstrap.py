"""Rank intervals (``leaderboard.bootstrap``): against a brute-force reference (sklearn's AUC on
explicitly resampled events, ranks counted by hand, R's type-7 quantiles), on hand-made cases,
and on the board's pages and API."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from leaderboard import bootstrap


def drawn_events(counts_row: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(counts_row)), counts_row)


def type7(sorted_values: np.ndarray, p: float) -> float:
    """R's default quantile, written out: linear between order statistics at h = (n - 1) p."""
    h = (len(sorted_values) - 1) * p
    below = math.floor(h)
    above = min(below + 1, len(sorted_values) - 1)
    return sorted_values[below] + (h - below) * (sorted_values[above] - sorted_values[below])


def small_challenge(seed: int, n_teams: int = 5, n_events: int = 41):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_events) < 0.4).astype(np.int8)
    labels[:2] = [0, 1]
    skill = np.linspace(0.2, 1.5, n_teams)[:, None]
    # Rounded to one decimal: many ties, within a team and between its classes.
    scores = np.round(skill * labels + rng.normal(size=(n_teams, n_events)), 1)
    return labels, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_aucs_and_rank_intervals_match_a_brute_force_reference(seed):
    labels, scores = small_challenge(seed)
    resamples = bootstrap.make_resamples(labels, resamples=200, seed=seed)
    counts = bootstrap.resample_counts(labels, resamples=200, seed=seed)
    samples = np.stack([bootstrap.auc_samples(team, resamples) for team in scores])

    reference = np.empty_like(samples)
    for b, row in enumerate(counts):
        events = drawn_events(row)
        assert np.sum(labels[events]) == np.sum(labels)  # stratified: class sizes kept
        for t, team in enumerate(scores):
            reference[t, b] = roc_auc_score(labels[events], team[events])
    np.testing.assert_allclose(samples, reference, rtol=0, atol=1e-12)

    # sklearn's floats of two equal AUCs may differ in the last bit; distinct AUCs of these
    # resamples differ by at least 1 / (2 n_pos n_neg), so rounding to 12 decimals keeps them.
    exact = np.round(reference, 12)
    ranks = 1 + (exact[None, :, :] > exact[:, None, :]).sum(axis=1)  # (T, B), ties share the best
    intervals = bootstrap.rank_intervals(samples)
    for t in range(len(scores)):
        ordered = np.sort(ranks[t])
        assert intervals.lo[t] == math.floor(type7(ordered, 0.025))
        assert intervals.hi[t] == math.ceil(type7(ordered, 0.975))
        assert list(intervals.rank_counts[t]) == [
            int(np.sum(ranks[t] == r)) for r in range(1, len(scores) + 1)
        ]


def test_resamples_are_deterministic_for_a_seed_and_differ_between_seeds():
    labels, _ = small_challenge(0)
    first = bootstrap.resample_counts(labels, resamples=50, seed=7)
    assert np.array_equal(first, bootstrap.resample_counts(labels, resamples=50, seed=7))
    assert not np.array_equal(first, bootstrap.resample_counts(labels, resamples=50, seed=8))
    assert (first.sum(axis=1) == len(labels)).all()


def test_a_clear_leader_gets_rank_one_in_every_resample():
    labels, scores = small_challenge(3, n_teams=4, n_events=200)
    scores[0] = labels + 0.01 * np.arange(len(labels)) / len(labels)  # perfect separation
    resamples = bootstrap.make_resamples(labels, resamples=1000, seed=0)
    intervals = bootstrap.rank_intervals(
        np.stack([bootstrap.auc_samples(team, resamples) for team in scores])
    )
    assert (intervals.lo[0], intervals.hi[0]) == (1, 1)
    assert intervals.rank_counts[0, 0] == 1000
    assert (intervals.lo[1:] >= 2).all()


def test_two_identical_teams_share_every_rank():
    labels, scores = small_challenge(4, n_teams=3, n_events=120)
    scores[2] = scores[1]
    resamples = bootstrap.make_resamples(labels, resamples=1000, seed=0)
    samples = np.stack([bootstrap.auc_samples(team, resamples) for team in scores])
    intervals = bootstrap.rank_intervals(samples)
    assert np.array_equal(samples[1], samples[2])
    assert (intervals.lo[1], intervals.hi[1]) == (intervals.lo[2], intervals.hi[2])
    assert np.array_equal(intervals.rank_counts[1], intervals.rank_counts[2])


def test_interval_bounds_are_the_floor_and_ceiling_of_type7_quantiles():
    # Team 1 beats team 0 in one resample of 31. Its ranks sorted: 1, 2, 2, ...; the 2.5% quantile
    # sits at h = 30 * 0.025 = 0.75, i.e. 1.75, so its interval starts at 1 (a nearest-rank rule
    # would say 2). Team 0's 97.5% quantile sits at h = 29.25, i.e. 1.25: its interval ends at 2.
    samples = np.array([[0.9] * 30 + [0.7], [0.8] * 30 + [0.95]])
    intervals = bootstrap.rank_intervals(samples)
    assert (list(intervals.lo), list(intervals.hi)) == ([1, 1], [2, 2])
    assert intervals.rank_counts.tolist() == [[30, 1], [1, 30]]


def test_for_a_lower_better_metric_the_lowest_score_ranks_first():
    samples = np.array([[0.2] * 10, [0.1] * 10, [0.3] * 10])
    intervals = bootstrap.rank_intervals(samples, higher_is_better=False)
    assert (list(intervals.lo), list(intervals.hi)) == ([2, 1, 3], [2, 1, 3])


def test_other_metrics_are_computed_on_each_resample():
    from challenge.metrics import score_type

    metric = score_type("bkg_eff@0.5")
    labels, scores = small_challenge(5, n_teams=1, n_events=60)
    resamples = bootstrap.make_resamples(labels, resamples=30, seed=1)
    counts = bootstrap.resample_counts(labels, resamples=30, seed=1)
    expected = [
        metric.score(labels[drawn_events(row)], scores[0][drawn_events(row)]) for row in counts
    ]
    assert bootstrap.metric_samples(scores[0], resamples, metric).tolist() == expected


def test_the_blocked_running_sum_equals_numpy_cumsum():
    rng = np.random.default_rng(0)
    for rows in (0, 1, 63, 64, 65, 200):
        counts = rng.integers(0, 5, size=(rows, 7)).astype(np.uint8)
        summed = bootstrap._cumsum_rows(counts, np.uint16)
        assert summed.shape == (rows + 1, 7)
        assert np.array_equal(summed[1:], np.cumsum(counts, axis=0))
        assert not summed[0].any()


def test_labels_of_one_class_are_refused():
    with pytest.raises(ValueError, match="no event of class 1"):
        bootstrap.resample_counts(np.zeros(10), resamples=10, seed=0)


# The board: intervals on the public split while running, on the private split once revealed.


def register_and_upload(api, clock, plan):
    tokens = {}
    for name, skill, seed in plan:
        tokens[name] = api.register(name)
        assert api.submit(tokens[name], api.submission(skill=skill, seed=seed)).status_code == 201
        clock.advance(minutes=1)
    return tokens


def test_the_board_shows_rank_intervals_and_who_is_tied_for_first(app, api, client, clock, runner):
    # Two equally strong teams (the same file) and a hopeless one.
    register_and_upload(api, clock, [("alpha", 3.0, 1), ("beta", 3.0, 1), ("gamma", -2.0, 3)])
    body = client.get("/api/leaderboard").get_json()
    assert body["resamples"] == 1000
    by_team = {row["team"]: row for row in body["rows"]}
    assert by_team["alpha"]["rank_lo"] == by_team["beta"]["rank_lo"] == 1
    assert (by_team["gamma"]["rank_lo"], by_team["gamma"]["rank_hi"]) == (3, 3)
    assert body["tied_first"] == ["alpha", "beta"]
    page = client.get("/").get_data(as_text=True)
    assert "Tied for first place (their rank intervals include 1): alpha, beta." in page
    assert '<td class="rank-interval">3–3</td>' in page
    assert client.get("/rank_stability.png").status_code == 404  # not before the reveal

    assert runner.invoke(["reveal"]).exit_code == 0
    final = client.get("/api/leaderboard").get_json()
    assert final["tied_first"] == ["alpha", "beta"]
    assert {r["team"]: (r["rank_lo"], r["rank_hi"]) for r in final["rows"]}["gamma"] == (3, 3)
    figure = client.get("/rank_stability.png")
    assert figure.status_code == 200 and figure.data.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_tie_sentence_ends_in_one_full_stop_after_a_name_ending_in_one(api, client, clock):
    register_and_upload(api, clock, [("alpha", 3.0, 1), ("Team B.", 3.0, 1)])
    page = client.get("/").get_data(as_text=True)
    assert "(their rank intervals include 1): alpha, Team B.</p>" in page


def test_public_intervals_use_the_public_split_and_final_ones_the_private(
    app, api, client, clock, runner, answer_key
):
    """Against the bootstrap computed here from the files and the key, split by split."""
    register_and_upload(api, clock, [("a", 1.0, 1), ("b", 1.2, 2), ("c", 0.9, 3)])
    from challenge.submission import read_submission
    from tests.conftest import submission_bytes

    def expected(split):
        part = answer_key[answer_key["split"] == split]
        resamples = bootstrap.make_resamples(part["label"].to_numpy(), resamples=1000, seed=0)
        samples = []
        for skill, seed in [(1.0, 1), (1.2, 2), (0.9, 3)]:
            table = read_submission(submission_bytes(answer_key, skill=skill, seed=seed))
            scores = table.set_index("event_id")["score"].reindex(part["event_id"]).to_numpy()
            samples.append(bootstrap.auc_samples(scores, resamples))
        intervals = bootstrap.rank_intervals(np.stack(samples))
        return {
            name: (int(lo), int(hi))
            for name, lo, hi in zip("abc", intervals.lo, intervals.hi, strict=True)
        }

    def shown():
        rows = client.get("/api/leaderboard").get_json()["rows"]
        return {r["team"]: (r["rank_lo"], r["rank_hi"]) for r in rows}

    assert shown() == expected("public")
    assert runner.invoke(["reveal"]).exit_code == 0
    assert shown() == expected("private")
    assert expected("public") != expected("private")  # the check can tell the splits apart
