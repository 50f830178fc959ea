"""Tests of package_challenge: records from any source get the challenge layout, ids, key and card."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest
import uproot

from challenge import data
from challenge.detector import Detector
from challenge.package import package_challenge
from challenge.records import RecordFormat, Records
from challenge.secret import Secret
from challenge.splitting import PUBLIC_FRACTION, split_records

LENGTH, N = 128, 300
FORMAT = RecordFormat(
    sampling_rate_hz=25_000.0,
    record_length=LENGTH,
    trigger_index=LENGTH // 4,
    pulse_dtype="float32",
    extra={
        "generator_version": "import-test",
        "detector": Detector(record_length=LENGTH).to_dict(),
    },
)


def sorted_volts(n: int = N):
    """Float32 records sorted by label, as a file from a detector might be: absorbers first."""
    rng = np.random.default_rng(1)
    label = (np.arange(n) >= n // 2).astype(np.int8)
    pulse = rng.normal(size=(n, LENGTH)).astype(np.float32)
    pulse[:, LENGTH // 2] += label  # a trace of the class, so the records differ by class
    return pulse, label


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    out = tmp_path_factory.mktemp("imported")
    pulse, label = sorted_volts()
    secret = Secret.from_seed(11)
    train, test = split_records(pulse, label, n_test=100, secret=secret)
    paths = package_challenge(
        train, test, out, fmt=FORMAT, secret=secret, description="Test records.", progress=False
    )
    return out, paths, pulse, label


def test_float_volts_round_trip_without_truth_columns(packaged):
    out, _, pulse, label = packaged
    with uproot.open(out / "public" / "train.root") as f:
        assert f["events"].typenames() == {
            "event_id": "int64_t",
            "pulse": f"float[{LENGTH}]",
            "label": "int8_t",
        }
    meta = data.read_metadata("train", out)
    assert meta["pulse_dtype"] == "float32" and meta["volts_per_count"] == 1.0
    assert meta["generator_version"] == "import-test" and meta["seed"] == 11
    train, test = data.load("train", out), data.load("test", out)
    # Every record arrives once, unchanged, with its label.
    both = np.concatenate([train.X, test.X])
    order = np.lexsort(both.T[::-1])
    np.testing.assert_array_equal(both[order], pulse[np.lexsort(pulse.T[::-1])])
    key = pd.read_csv(out / "private" / "answer_key.csv").set_index("event_id")
    rows = {r.tobytes(): i for i, r in enumerate(pulse)}
    np.testing.assert_array_equal(
        key.loc[test.event_id, "label"], label[[rows[r.tobytes()] for r in test.X]]
    )
    np.testing.assert_array_equal(train.y, label[[rows[r.tobytes()] for r in train.X]])


def test_row_order_of_sorted_input_is_shuffled(packaged):
    out, *_ = packaged
    key = pd.read_csv(out / "private" / "answer_key.csv")
    test_ids = data.load_event_ids("test", out)
    assert (key.event_id == test_ids).all()
    labels = key.label.to_numpy()
    # Sorted input would give all absorbers first; a shuffle gives many runs of alternating labels.
    assert np.count_nonzero(np.diff(labels)) > 30
    train_y = data.load("train", out).y
    assert np.count_nonzero(np.diff(train_y)) > 60


def test_answer_key_is_stratified_and_card_explains_missing_references(packaged):
    out, paths, *_ = packaged
    key = pd.read_csv(paths["answer_key"])
    for cls in (0, 1):
        members = key[key.label == cls]
        assert (members.split == "public").sum() == round(PUBLIC_FRACTION * len(members))
    card = paths["datacard"].read_text()
    assert "Test records." in card and "`pulse` (float32[128], volts)" in card
    assert (
        "| true pulse height (simulation truth) | not computed: the records carry no true" in card
    )


def test_wrong_shapes_and_counts_are_refused(tmp_path):
    pulse, label = sorted_volts(20)
    secret = Secret.from_seed(1)
    with pytest.raises(ValueError, match=r"shape \(10, 128\); expected \(n, 64\)"):
        bad = RecordFormat(25_000.0, 64, 16, pulse_dtype="float32", extra=FORMAT.extra)
        train, test = split_records(pulse, label, n_test=10, secret=secret)
        package_challenge(train, test, tmp_path, fmt=bad, secret=secret, description="",
                          progress=False)  # fmt: skip
    with pytest.raises(
        ValueError, match=r"one value per record \(20 records\); got \{'label': 19\}"
    ):
        split_records(pulse, label[:-1], n_test=10, secret=secret)
    train, _ = split_records(pulse, label, n_test=10, secret=secret)
    short = Records(12, train.batches)  # announces 12, holds 10
    with pytest.raises(ValueError, match="the records hold 10 events; 12 were announced"):
        package_challenge(short, Records.from_arrays(pulse[:5], label[:5]), tmp_path, fmt=FORMAT,
                          secret=secret, description="", progress=False)  # fmt: skip


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_private_folder_and_files_are_owner_only_whatever_the_umask(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o777)
    os.chmod(private, 0o777)
    (private / "answer_key.csv").write_text("old")
    os.chmod(private / "answer_key.csv", 0o666)
    pulse, label = sorted_volts(40)
    secret = Secret.fresh()
    old = os.umask(0)
    try:
        train, test = split_records(pulse, label, n_test=20, secret=secret)
        package_challenge(train, test, tmp_path, fmt=FORMAT, secret=secret, description="",
                          progress=False)  # fmt: skip
    finally:
        os.umask(old)
    assert _mode(private) == 0o700
    assert sorted(p.name for p in private.iterdir()) == [
        "CEILING.md",
        "answer_key.csv",
        "metric.json",
        "secret.json",
    ]
    for path in private.iterdir():
        assert _mode(path) == 0o600, path


def test_a_test_set_too_small_to_score_is_refused_with_a_message(tmp_path):
    from click.testing import CliRunner

    from challenge.cli import main

    args = ["generate", "--n-train", "20", "--n-test", "3", "--record-length", "128", "--seed", "1",
            "--out-dir", str(tmp_path), "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "split of the 3 test events holds" in result.stderr
    assert "scoring needs at least 2 of each: use more test events" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "private/answer_key.csv").exists()
