"""ROOT round trip of the challenge files: branches, dtypes, metadata, ids, loaders and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from challenge import data
from challenge.generate import generate_challenge, organizers_detector
from challenge.secret import Secret
from challenge.simulate import simulate

N_TRAIN, N_TEST, LENGTH, SEED = 120, 80, 512, 7


@pytest.fixture(scope="module")
def challenge_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("challenge")
    generate_challenge(
        out, seed=SEED, n_train=N_TRAIN, n_test=N_TEST, record_length=LENGTH, progress=False
    )
    return out


def test_branches_and_dtypes_as_written(challenge_dir):
    with uproot.open(challenge_dir / "public" / "train.root") as f:
        assert f.classnames()["metadata;1"] == "TObjString"
        tree = f["events"]
        assert tree.typenames() == {
            "event_id": "int64_t",
            "pulse": f"int16_t[{LENGTH}]",
            "label": "int8_t",
            "pulse_height": "float",
            "onset": "float",
        }
        assert tree.num_entries == N_TRAIN
    with uproot.open(challenge_dir / "public" / "test.root") as f:
        assert f["events"].typenames() == {"event_id": "int64_t", "pulse": f"int16_t[{LENGTH}]"}
        assert f["events"].num_entries == N_TEST


def test_file_holds_the_simulated_records(challenge_dir):
    config = organizers_detector(Secret.from_seed(SEED), LENGTH)
    truth = simulate(N_TRAIN, seed=SEED, split="train", config=config)
    with uproot.open(challenge_dir / "public" / "train.root") as f:
        arrays = f["events"].arrays(library="np")
    np.testing.assert_array_equal(arrays["pulse"], truth.counts)
    np.testing.assert_array_equal(arrays["label"], truth.label)
    np.testing.assert_allclose(arrays["pulse_height"], truth.pulse_height, rtol=1e-6)
    np.testing.assert_allclose(arrays["onset"], truth.onset, rtol=1e-6)


def test_metadata(challenge_dir):
    meta = data.read_metadata("train", challenge_dir)
    assert meta["sampling_rate_hz"] == 25_000
    assert meta["record_length"] == LENGTH
    assert meta["trigger_index"] == LENGTH // 4
    assert meta["volts_per_count"] == 20.0 / 2**16
    assert meta["seed"] == SEED
    assert meta["generator_version"] and meta["split"] == "train" and meta["n_events"] == N_TRAIN
    with uproot.open(challenge_dir / "public" / "test.root") as f:  # plain JSON for outside tools
        assert json.loads(str(f["metadata"]))["split"] == "test"


def test_load_converts_counts_to_volts(challenge_dir):
    train = data.load("train", challenge_dir)
    with uproot.open(challenge_dir / "public" / "train.root") as f:
        counts = f["events"]["pulse"].array(library="np")
    assert train.X.dtype == np.float32 and train.X.shape == (N_TRAIN, LENGTH)
    np.testing.assert_array_equal(train.X, counts.astype(np.float32) * np.float32(20.0 / 2**16))
    assert train.y.dtype == np.int8 and set(np.unique(train.y)) == {0, 1}
    assert train.event_id.dtype == np.int64
    assert data.load("test", challenge_dir).y is None


def test_event_ids_unique_shuffled_and_disjoint(challenge_dir):
    train_ids = data.load_event_ids("train", challenge_dir)
    test_ids = data.load_event_ids("test", challenge_dir)
    assert len(np.unique(train_ids)) == N_TRAIN and len(np.unique(test_ids)) == N_TEST
    assert not set(train_ids) & set(test_ids)
    assert not np.all(np.diff(train_ids) > 0) and not np.all(np.diff(train_ids) < 0)
    np.testing.assert_array_equal(test_ids, data.load("test", challenge_dir).event_id)


@pytest.mark.parametrize("step", [1, 33, 1000])
def test_iterate_in_chunks_equals_load(challenge_dir, step):
    whole = data.load("train", challenge_dir)
    chunks = list(data.iterate("train", challenge_dir, step_size=step))
    assert max(len(c.event_id) for c in chunks) == min(step, N_TRAIN)
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), whole.X)
    np.testing.assert_array_equal(np.concatenate([c.y for c in chunks]), whole.y)


def test_pulse_dataset(challenge_dir):
    import torch

    train = data.load("train", challenge_dir)
    ds = data.PulseDataset("train", challenge_dir, transform=lambda x: x * 2)
    assert len(ds) == N_TRAIN
    x, y = ds[3]
    assert x.dtype == torch.float32 and x.shape == (LENGTH,)
    np.testing.assert_array_equal(x.numpy(), train.X[3] * 2)
    assert float(y) == train.y[3]
    _, y_test = data.PulseDataset("test", challenge_dir)[0]
    assert torch.isnan(y_test)


def test_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(data.DataError, match="challenge generate") as err:
        data.load("train", tmp_path)
    assert str(tmp_path / "public" / "train.root") in str(err.value)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ValueError)


def test_not_a_root_file(tmp_path):
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "test.root").write_text("event_id,score\n")
    with pytest.raises(data.DataError, match="not a readable ROOT file") as err:
        data.load_event_ids("test", tmp_path)
    assert "test.root" in str(err.value)


def test_root_file_without_the_tree_or_metadata(tmp_path):
    (tmp_path / "public").mkdir()
    with uproot.recreate(tmp_path / "public" / "train.root") as f:
        f["pulses"] = "not the tree"
    with pytest.raises(data.DataError, match=r"expected a TTree 'events'.*pulses"):
        data.load("train", tmp_path)
    with uproot.recreate(tmp_path / "public" / "train.root") as f:
        f.mktree("events", {"event_id": np.int64})
    with pytest.raises(data.DataError, match="TObjString 'metadata'"):
        data.read_metadata("train", tmp_path)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="'validation'"):
        data.load("validation")
