"""Tests of generate_challenge: the public files, the answer key and the data card."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import uproot
from click.testing import CliRunner
from threadpoolctl import threadpool_info, threadpool_limits

from challenge import data
from challenge.cli import main
from challenge.generate import PRESETS, generate_challenge, organizers_detector, simulation_config
from challenge.hidden_detector import PRIORS, read_detector
from challenge.likelihood import learn_reference, log_likelihood_ratio, oracle_reference
from challenge.matched_filter import matched_filter_score
from challenge.metrics import roc_auc_score
from challenge.secret import Secret
from challenge.simulate import SimulationConfig, energy_share, simulate
from challenge.splitting import PUBLIC_FRACTION
from challenge.submission import read_submission

N_TRAIN, N_TEST, LENGTH, SEED = 300, 400, 512, 3
HIDDEN = organizers_detector(Secret.from_seed(SEED), LENGTH)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    paths = generate_challenge(
        out, seed=SEED, n_train=N_TRAIN, n_test=N_TEST, record_length=LENGTH, progress=False
    )
    return out, paths


def test_presets_match_the_contract():
    assert PRESETS == {"demo": (10000, 2000), "full": (10000, 20000), "course": (2000, 1000)}
    course = simulation_config(preset="course")
    assert (course.height_min_v, course.height_max_v, course.baseline_offset_v) == (
        0.012,
        1.0,
        0.02,
    )
    assert (
        simulation_config(preset="demo") == simulation_config(preset="full") == SimulationConfig()
    )


def test_the_organizer_sets_carrier_fraction_height_spectrum_and_label_noise(tmp_path):
    config = simulation_config(carrier_fraction=0.2, carrier_height_alpha=0.8, label_noise=0.05,
                               carrier_height_min_v=0.003)  # fmt: skip
    assert (config.carrier_fraction, config.carrier_height_alpha, config.label_noise,
            config.carrier_height_min_v) == (0.2, 0.8, 0.05, 0.003)  # fmt: skip
    assert simulation_config(carrier_fraction=None) == SimulationConfig()
    for bad, match in (({"carrier_fraction": 1.0}, "carrier_fraction .* got 1.0"),
                       ({"label_noise": 0.5}, r"label_noise .* got 0.5"),
                       ({"carrier_height_alpha": 0.0}, "carrier_height_alpha .* got 0.0"),
                       ({"carrier_height_min_v": 20.0}, "carrier_height_min_v .* got 20.0"),
                       ({"tau_jitter": 0.1}, "unknown simulation options")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            generate_challenge(tmp_path / "bad", n_train=10, n_test=10, **bad)
    assert not (tmp_path / "bad").exists()


def test_the_files_do_not_depend_on_the_number_of_workers(tmp_path):
    # 1,100 training records are three chunks of the simulator: two processes share them.
    for workers in (1, 2):
        generate_challenge(tmp_path / str(workers), seed=SEED, n_train=1100, n_test=400,
                           record_length=256, workers=workers, progress=False)  # fmt: skip
    one, two = tmp_path / "1", tmp_path / "2"
    for split in ("train", "test"):
        with (
            uproot.open(data.split_path(split, one)) as a,
            uproot.open(data.split_path(split, two)) as b,
        ):
            assert str(a["metadata"]) == str(b["metadata"])
            for name, column in a["events"].arrays(library="np").items():
                np.testing.assert_array_equal(column, b["events"][name].array(library="np"))
    for rel in ["private/answer_key.csv", "public/DATACARD.md", "public/challenge.json",
                "private/detector.json", "private/CEILING.md"]:  # fmt: skip
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_writes_the_documented_files(generated):
    out, paths = generated
    for rel in ["public/train.root", "public/test.root", "public/sample_submission.csv",
                "public/DATACARD.md", "public/challenge.json", "private/answer_key.csv",
                "private/secret.json", "private/detector.json"]:  # fmt: skip
        assert (out / rel).is_file(), rel
    assert set(paths.values()) == {p for p in out.rglob("*") if p.is_file()}


def test_answer_key_labels_and_stratified_split(generated):
    out, _ = generated
    key = pd.read_csv(out / "private" / "answer_key.csv")
    assert list(key.columns) == ["event_id", "label", "split"]
    np.testing.assert_array_equal(key.event_id, data.load_event_ids("test", out))
    truth = simulate(N_TEST, seed=SEED, split="test", config=HIDDEN)
    np.testing.assert_array_equal(key.label, truth.label)
    assert set(key.split) == {"public", "private"}
    for cls in (0, 1):
        members = key[key.label == cls]
        assert (members.split == "public").sum() == round(PUBLIC_FRACTION * len(members))


def test_sample_submission_is_valid_and_uninformative(generated):
    out, _ = generated
    test_ids = data.load_event_ids("test", out)
    sub = read_submission(out / "public" / "sample_submission.csv", expected_ids=test_ids)
    assert len(sub) == N_TEST
    key = pd.read_csv(out / "private" / "answer_key.csv").set_index("event_id")
    auc = roc_auc_score(key.loc[sub.event_id, "label"], sub.score)
    assert auc == pytest.approx(0.5, abs=4 * 0.029)


def _reported(card: str, title: str) -> float:
    return float(re.search(rf"\| {title}[^|]*\| ([0-9.]+) \|", card).group(1))


def test_datacard_reports_the_auc_measured_on_the_files(generated):
    out, _ = generated
    card = (out / "public" / "DATACARD.md").read_text()
    test = data.load("test", out)
    key = pd.read_csv(out / "private" / "answer_key.csv")
    meta = data.read_metadata("test", out)
    plain = matched_filter_score(test.X, metadata=meta)
    assert _reported(card, "plain matched filter") == pytest.approx(
        roc_auc_score(key.label, plain), abs=1e-4
    )
    assert f"| test | {N_TEST} |" not in card  # the test records' class counts are private


def test_the_public_files_give_each_split_s_resolution_but_not_its_class_counts(generated):
    """With a split's class counts, one upload of a few events' tie group reads their labels
    from its AUC (issue 21): challenge.json and the data card give sizes and resolutions only."""
    out, _ = generated
    key = pd.read_csv(out / "private" / "answer_key.csv")
    splits = json.loads((out / "public" / "challenge.json").read_text())["resolution"]["splits"]
    for name, split in splits.items():
        members = key[key.split == name]
        assert split["events"] == len(members)
        assert set(split) == {"events", "min_auc_difference"}
        counts = {str(int(members.label.sum())), str(int(len(members) - members.label.sum()))}
        card = (out / "public" / "DATACARD.md").read_text()
        resolution_line = next(line for line in card.splitlines() if f"the {name} split" in line)
        assert not counts & set(re.findall(r"\d+", resolution_line)), resolution_line


def test_physics_reference_is_learned_from_the_training_records_alone(generated):
    """The data card's physics reference is the one learned from train.root with the record
    format alone: neither the simulator's settings nor the organizers' detector enter it."""
    out, _ = generated
    card = (out / "public" / "DATACARD.md").read_text()
    train, test = data.load("train", out), data.load("test", out)
    meta = data.read_metadata("train", out)
    record_format = {k: meta[k] for k in ("sampling_rate_hz", "record_length", "trigger_index")}
    ref = learn_reference(train.X, train.y, metadata=record_format)
    key = pd.read_csv(out / "private" / "answer_key.csv")
    assert _reported(card, "physics reference") == pytest.approx(
        roc_auc_score(key.label, log_likelihood_ratio(test.X, ref)), abs=1e-4
    )


def test_bound_knows_the_detector_is_private_and_above_the_reference(generated):
    out, paths = generated
    assert "bound" not in (out / "public" / "DATACARD.md").read_text().lower()
    text = paths["ceiling"].read_text()
    assert paths["ceiling"].parent == out / "private"
    bound = _reported(text, "best achievable bound")
    # Independent: the likelihood ratio with the settings that drew the test records.
    test = data.load("test", out)
    key = pd.read_csv(out / "private" / "answer_key.csv")
    score = log_likelihood_ratio(test.X, oracle_reference(HIDDEN))
    assert bound == pytest.approx(roc_auc_score(key.label, score), abs=1e-4)
    physics = _reported(text, "physics reference")
    assert bound > physics
    distance = re.search(r"\| physics reference[^|]*\| ([-+][0-9.]+) \(paired DeLong p = ", text)
    assert float(distance.group(1)) == pytest.approx(physics - bound, abs=2e-4)


def test_the_records_come_from_the_organizers_detector_kept_private(generated):
    out, paths = generated
    assert paths["detector"] == out / "private" / "detector.json"
    assert paths["detector"].stat().st_mode & 0o777 == 0o600
    assert read_detector(paths["detector"]) == HIDDEN
    train = data.load("train", out)
    truth = simulate(N_TRAIN, seed=SEED, split="train", config=HIDDEN)
    np.testing.assert_array_equal(train.y, truth.label)
    np.testing.assert_allclose(train.X, truth.counts * np.float32(HIDDEN.detector.volts_per_count))
    # The public simulator's defaults make other records from the same secret.
    public = simulate(N_TRAIN, seed=SEED, split="train", config=simulation_config(LENGTH))
    assert np.mean(np.abs(public.counts.astype(float) - truth.counts)) > 10


def test_the_files_name_the_public_defaults_and_the_card_the_priors_never_the_drawn_values(
    generated,
):
    out, _ = generated
    public = json.loads(json.dumps(simulation_config(LENGTH).to_dict()))  # lists, as JSON has
    for split in ("train", "test"):
        meta = data.read_metadata(split, out)
        assert meta["detector"] == public["detector"]
        assert meta["simulation"] == {k: v for k, v in public.items() if k != "detector"}
    card = (out / "public" / "DATACARD.md").read_text()
    for prior in PRIORS:
        assert f"| {prior.effect} | {prior.range_text()} |" in card
    hidden = HIDDEN.detector
    for value in (hidden.noise.white_rms_v, hidden.saturation_v, hidden.lowpass_hz,
                  HIDDEN.tau_jitter, HIDDEN.onset_jitter_ms, HIDDEN.tail_fraction):  # fmt: skip
        for digits in (4, 6):
            assert f"{value:.{digits}g}" not in card


def test_same_seed_same_challenge(generated, tmp_path):
    out, _ = generated
    generate_challenge(
        tmp_path, seed=SEED, n_train=N_TRAIN, n_test=N_TEST, record_length=LENGTH, progress=False
    )
    for split in ("train", "test"):
        a, b = data.load(split, out), data.load(split, tmp_path)
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.event_id, b.event_id)
    for rel in ["private/answer_key.csv", "public/sample_submission.csv", "public/DATACARD.md"]:
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="'huge'"):
        generate_challenge(tmp_path, preset="huge")
    with pytest.raises(ValueError, match="record_length"):
        generate_challenge(tmp_path, n_train=10, n_test=10, record_length=8)


def test_datacard_says_why_a_reference_is_missing(tmp_path):
    # a fixed seed: with a fresh secret, 20 test events may leave a split without 2 of a class
    generate_challenge(tmp_path, seed=SEED, n_train=20, n_test=20, record_length=64, progress=False)
    card = (tmp_path / "public" / "DATACARD.md").read_text()
    assert "not computed: records of 64 samples are too short to learn templates from" in card


def test_the_command_takes_the_course_preset_and_the_organizer_options(tmp_path):
    out = tmp_path / "course"
    args = ["generate", "--preset", "course", "--n-train", 40, "--n-test", 60,
            "--record-length", 256, "--seed", 3, "--carrier-fraction", 0.3,
            "--label-noise", 0.1, "--workers", 2, "--out-dir", out, "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    card = (out / "public" / "DATACARD.md").read_text()
    assert "Carriers make 30% of the events" in card
    assert "10% of the training labels are flipped" in card
    assert "from 12 mV to 1 V" in card
    hidden = read_detector(out / "private" / "detector.json")
    assert (hidden.height_min_v, hidden.carrier_fraction, hidden.label_noise) == (0.012, 0.3, 0.1)
    refused = CliRunner().invoke(main, ["generate", "--label-noise", "0.5", "--out-dir",
                                        str(tmp_path / "no")])  # fmt: skip
    assert refused.exit_code == 2 and "--label-noise" in refused.output


def test_every_draw_has_absorbers_that_carry_more_than_half_a_carrier_pulse():
    """What one template per class cannot rank: on every draw of the priors' corners (and of a few
    secrets) at least 8% of the absorbers carry more than half a carrier pulse (the weakest
    corner, 30% sharing up to 0.7: 0.3 x (1 - 0.5 / 0.7) = 8.6%), and no carrier carries more
    than a third of an absorber pulse (carriers rarely mix: their share stays below 0.3)."""
    position = np.linspace(-0.5, 0.5, 100_001)
    low = {p.key: p.low for p in PRIORS}
    weakest = replace(SimulationConfig(), mixing_fraction=(low["absorber_mixing_fraction"], 0.1),
                      mixing_max=(low["absorber_mixing_max"], 0.3))  # fmt: skip
    configs = [weakest] + [organizers_detector(Secret.from_seed(s)) for s in range(5)]
    for config in configs:
        absorbers = energy_share(np.zeros(len(position), np.int8), position, config)
        carriers = energy_share(np.ones(len(position), np.int8), position, config)
        assert np.mean(absorbers > 0.5) >= 0.085
        assert np.mean(carriers > 1 / 3) == 0.0


def test_generation_takes_one_blas_thread_in_its_own_process(tmp_path, monkeypatch):
    # With one worker the main process learns and scores the references itself, on one core.
    seen = []

    def learn(*args, **kwargs):
        seen.append(_blas_threads())
        return learn_reference(*args, **kwargs)

    monkeypatch.setattr("challenge.references.learn_reference", learn)
    with threadpool_limits(limits=2, user_api="blas"):
        generate_challenge(tmp_path, seed=SEED, n_train=N_TRAIN, n_test=50,
                           record_length=LENGTH, progress=False)  # fmt: skip
        assert _blas_threads() == {2}  # as it was, after the generation
    assert seen == [{1}]


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


@pytest.mark.parametrize("workers", [1, 2])
def test_physics_reference_learns_from_the_first_records_of_train_root(
    tmp_path, monkeypatch, workers
):
    # As the records go to train.root (and with workers, in a process of its own): the data
    # card's reference is the one learned from the file's first LEARN_RECORDS records.
    monkeypatch.setattr("challenge.references.LEARN_RECORDS", 130)
    generate_challenge(tmp_path, seed=SEED, n_train=N_TRAIN, n_test=200, record_length=LENGTH,
                       workers=workers, progress=False)  # fmt: skip
    train, test = data.load("train", tmp_path), data.load("test", tmp_path)
    meta = data.read_metadata("train", tmp_path)
    key = pd.read_csv(tmp_path / "private" / "answer_key.csv")
    card = (tmp_path / "public" / "DATACARD.md").read_text()
    aucs = [
        roc_auc_score(key.label, log_likelihood_ratio(test.X, learn_reference(X, y, metadata=meta)))
        for X, y in ((train.X[:130], train.y[:130]), (train.X, train.y))
    ]
    assert abs(aucs[0] - aucs[1]) > 1e-3  # the records it learns from tell
    assert _reported(card, "physics reference") == pytest.approx(aucs[0], abs=1e-4)
