"""A competing team with the public files and this code cannot recompute the answer key.

The challenge is made as the organizer's guide says (``challenge generate`` without ``--seed``).
The adversary then regenerates labels and event ids through the project's own derivation code,
with every integer the public files expose and with the seeds 0 to 10,000.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
import uproot
from click.testing import CliRunner

from challenge import data
from challenge.cli import main
from challenge.generate import organizers_detector, simulation_config
from challenge.metrics import roc_auc_score
from challenge.secret import SECRET_BITS, Secret, read_secret
from challenge.simulate import simulate_chunk, simulated_labels
from challenge.splitting import SAMPLE_STREAM, draw_event_ids

N_TRAIN, N_TEST, LENGTH = 200, 4050, 512
CHUNK = 500  # SimulationConfig.chunk_size: the last test chunk holds the last 50 records
SEEDS = range(10_001)
# With 4,050 test events a guessed label vector scores AUC 0.5 +- 0.008 (one standard deviation),
# so 0.45 to 0.55 is more than six standard deviations wide even for the largest of ~20,000 tries.
AUC_RANGE = (0.45, 0.55)


@pytest.fixture(scope="module")
def challenge_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("real-event")
    args = ["generate", "--n-train", N_TRAIN, "--n-test", N_TEST, "--record-length", LENGTH,
            "--out-dir", out, "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "public seed" not in result.stderr
    return out


def public_integers(out, *, with_arrays: bool = True) -> set[int]:
    """Every integer the public files show: metadata, data card, challenge.json, and (with_arrays)
    the event ids and the bits of the sample submission's scores."""
    found: set[int] = set()
    texts = [(out / "public" / name).read_text() for name in ("DATACARD.md", "challenge.json")]
    for split in ("train", "test"):
        with uproot.open(data.split_path(split, out)) as f:
            texts.append(str(f["metadata"]))
        if with_arrays:
            found.update(data.load_event_ids(split, out).tolist())
    for text in texts:
        found.update(int(m) for m in re.findall(r"\d+", text))
    if with_arrays:
        sample = pd.read_csv(out / "public" / "sample_submission.csv")
        found.update((sample.score.to_numpy() * 2**53).astype(np.int64).tolist())  # random()'s bits
    return found


def binary_auc(guess: np.ndarray, label: np.ndarray) -> float:
    """AUC of a 0/1 score: (1 + TPR - FPR) / 2, ties counting one half."""
    return 0.5 * (1.0 + guess[label == 1].mean() - guess[label == 0].mean())


def test_secret_is_fresh_128_bits_and_private(challenge_dir):
    secret = read_secret(challenge_dir / "private" / "secret.json")
    assert not secret.is_public
    assert secret.entropy.bit_length() > SECRET_BITS - 20  # drawn from 2^128, not a small seed
    assert data.read_metadata("train", challenge_dir)["seed"] is None
    representations = [str(secret.entropy), f"{secret.entropy:x}", f"{secret.entropy:X}"]
    raw = [secret.entropy.to_bytes(16, order) for order in ("big", "little")]
    for path in (challenge_dir / "public").iterdir():
        content = path.read_bytes()
        if path.suffix == ".root":  # also the decompressed metadata
            with uproot.open(path) as f:
                content += str(f["metadata"]).encode()
        for text in representations:
            assert text.encode() not in content, path
        for blob in raw:
            assert blob not in content, path
    assert sorted(p.name for p in (challenge_dir / "public").iterdir()) == [
        "DATACARD.md", "challenge.json", "sample_submission.csv", "test.root", "train.root"
    ]  # fmt: skip


@pytest.mark.timeout(150)  # about 5 s on an idle core; 20,000 derivations of labels and ids
def test_no_public_value_or_small_seed_regenerates_labels_or_ids(challenge_dir):
    key = pd.read_csv(challenge_dir / "private" / "answer_key.csv")
    label, test_ids = key.label.to_numpy(), key.event_id.to_numpy()
    config = simulation_config(LENGTH)
    candidates = sorted(set(SEEDS) | public_integers(challenge_dir))
    assert len(candidates) > len(SEEDS) + N_TRAIN + N_TEST
    aucs = np.empty(len(candidates))
    same_ids = np.empty(len(candidates), dtype=np.int64)
    for i, seed in enumerate(candidates):  # the simulator's and the packager's own derivation
        guess = simulated_labels(N_TEST, seed=seed, split="test", config=config)
        aucs[i] = binary_auc(guess, label)
        _, guessed_ids = draw_event_ids(Secret.from_seed(seed), N_TRAIN, N_TEST)
        same_ids[i] = np.count_nonzero(guessed_ids == test_ids)
    worst = int(np.argmax(np.abs(aucs - 0.5)))
    assert AUC_RANGE[0] < aucs[worst] < AUC_RANGE[1], f"seed {candidates[worst]}"
    assert same_ids.max() <= 1  # by chance one id in 250,000 tries
    guess = simulated_labels(N_TEST, seed=candidates[7], split="test", config=config)
    assert binary_auc(guess, label) == pytest.approx(roc_auc_score(label, guess), abs=1e-12)


def test_no_public_value_regenerates_a_test_pulse(challenge_dir):
    test_pulses = uproot.open(data.split_path("test", challenge_dir))["events"]["pulse"]
    last = N_TEST // CHUNK  # a chunk of records depends only on (seed, split, chunk index)
    last_chunk = test_pulses.array(library="np", entry_start=last * CHUNK)
    known = {row.tobytes() for row in last_chunk}
    assert simulation_config(LENGTH).chunk_size == CHUNK
    for seed in sorted(public_integers(challenge_dir, with_arrays=False) | set(range(3))):
        config = organizers_detector(Secret.from_seed(seed), LENGTH)  # as the seed would draw it
        guessed = simulate_chunk(seed, "test", last, len(last_chunk), config).counts
        assert not known & {row.tobytes() for row in guessed}, f"seed {seed}"


def test_the_derivation_is_the_one_the_files_were_made_with(tmp_path):
    """The adversary's shortcut is sound: with the right seed it does reproduce the key."""
    out = tmp_path / "practice"
    args = ["generate", "--n-train", 20, "--n-test", 600, "--record-length", 128, "--seed", 123,
            "--out-dir", out, "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    key = pd.read_csv(out / "private" / "answer_key.csv")
    config = organizers_detector(Secret.from_seed(123), 128)
    guess = simulated_labels(600, seed=123, split="test", config=config)
    np.testing.assert_array_equal(guess, key.label)
    _, ids = draw_event_ids(Secret.from_seed(123), 20, 600)
    np.testing.assert_array_equal(ids, key.event_id)
    sample = pd.read_csv(out / "public" / "sample_submission.csv")
    np.testing.assert_allclose(sample.score, Secret.from_seed(123).rng(SAMPLE_STREAM).random(600))
    pulses = uproot.open(data.split_path("test", out))["events"]["pulse"].array(library="np")
    np.testing.assert_array_equal(
        simulate_chunk(123, "test", 1, 100, config).counts, pulses[CHUNK:]
    )


def test_each_stream_is_keyed_by_sha256_and_labels_have_their_own():
    """A PCG64 state recovered from public outputs (sample scores, record noise) must not give the
    secret or the labels: every stream is seeded by SHA-256 of the secret and its name."""

    def reference_rng(entropy: int, stream: str) -> np.random.Generator:  # from the docstring
        key = hashlib.sha256(f"darkmatter-challenge stream:{entropy}:{stream}".encode()).digest()
        return np.random.default_rng(np.random.SeedSequence(int.from_bytes(key, "big")))

    entropy = 2**127 + 12345
    np.testing.assert_array_equal(
        Secret(entropy).rng(SAMPLE_STREAM).random(5), reference_rng(entropy, "4").random(5)
    )
    config = simulation_config(LENGTH)
    labels = simulated_labels(CHUNK + 10, seed=entropy, split="test", config=config)
    for chunk, part in ((0, labels[:CHUNK]), (1, labels[CHUNK:])):  # test = 1, labels = part 0
        expected = reference_rng(entropy, f"1,{chunk},0").random(len(part)) < 0.5
        np.testing.assert_array_equal(part, expected)
    records = simulate_chunk(entropy, "test", 0, CHUNK, config)
    np.testing.assert_array_equal(records.label, labels[:CHUNK])


def test_a_public_seed_warns_on_stderr_and_in_the_data_card(tmp_path):
    args = ["generate", "--n-train", 20, "--n-test", 20, "--record-length", 128, "--seed", 5,
            "--out-dir", tmp_path, "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    warning = "anyone who knows or guesses it can recompute the labels"
    assert "warning: generated with a public seed (--seed 5)" in result.stderr
    assert warning in result.stderr and "without --seed" in result.stderr
    card = (tmp_path / "public" / "DATACARD.md").read_text()
    assert f"**Warning: generated with a public seed (--seed 5): {warning}" in card
    assert json.loads((tmp_path / "public" / "challenge.json").read_text())["public_seed"] == 5
    assert data.read_metadata("test", tmp_path)["seed"] == 5
