"""`challenge import`: cait HDF5 (written with h5py in cait's layout), torch, npz and HDF5 arrays
become challenges that read back exactly, serve on the leaderboard and train every baseline."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from challenge import data
from challenge.cli import main
from challenge.detector import Detector
from challenge.importer import (
    ImportFileError,
    import_challenge,
    parse_label_map,
    read_records,
)
from challenge.metrics import roc_auc_score
from challenge.simulate import SimulationConfig, simulate

h5py = pytest.importorskip("h5py")

LENGTH, N, RATE = 1024, 120, 25_000.0


def simulated(n: int = N, seed: int = 0):
    """Labelled int16 records of a small simulated detector (the import knows nothing of it)."""
    config = SimulationConfig(detector=Detector(record_length=LENGTH), height_min_v=0.01)
    ev = simulate(n, seed=seed, config=config)
    return ev.counts, ev.label


CAIT_MAP = "1=absorber,8=carrier"  # cait's codes: 1 = event pulse, 8 = carrier event


def cait_codes(label: np.ndarray, n_unlabelled: int = 0) -> np.ndarray:
    """cait's label codes for classes: absorber 1, carrier 8; the first records 0 (unlabelled)."""
    codes = np.where(np.asarray(label) == 1, 8, 1)
    codes[:n_unlabelled] = 0
    return codes


def write_cait(path, counts, label, *, channels: int = 2, channel: int = 1, codes=None, attrs=None):
    """An HDF5 file in cait's layout: events/event (channels, events, samples), mainpar, labels
    (cait's codes, float as cait writes them)."""
    events = np.zeros((channels, *counts.shape), dtype=np.int16)
    events[channel] = counts
    labels = np.zeros((channels, len(label)))
    labels[channel] = cait_codes(label) if codes is None else codes
    with h5py.File(path, "w") as f:
        group = f.create_group("events")
        group.create_dataset("event", data=events)
        group.create_dataset("mainpar", data=np.zeros((channels, len(label), 10)))
        group.create_dataset("labels", data=labels)
        f.attrs.update(attrs or {})
    return path


def _sorted_rows(X: np.ndarray) -> np.ndarray:
    return X[np.lexsort(X.T[::-1])]


def test_cait_file_round_trips_as_int16_counts(tmp_path):
    counts, label = simulated()
    path = write_cait(tmp_path / "run.h5", counts, label)
    paths = import_challenge(path, tmp_path / "ch", fmt="cait", channel=1, labels="events/labels",
                             label_map=CAIT_MAP, sampling_rate_hz=RATE, seed=1, progress=False)  # fmt: skip
    out = tmp_path / "ch"
    meta = data.read_metadata("train", out)
    assert meta["pulse_dtype"] == "int16" and meta["record_length"] == LENGTH
    assert meta["sampling_rate_hz"] == RATE and meta["volts_per_count"] == 1.0
    train, test = data.load("train", out), data.load("test", out)
    assert len(train.y) + len(test.event_id) == N and len(test.event_id) == N // 2
    both = np.concatenate([train.X, test.X])
    np.testing.assert_array_equal(_sorted_rows(both), _sorted_rows(counts.astype(np.float32)))
    # The labels travel with their records: each train record's label is the file's label.
    by_record = {row.tobytes(): y for row, y in zip(counts.astype(np.float32), label, strict=True)}
    assert all(by_record[x.tobytes()] == y for x, y in zip(train.X, train.y, strict=True))
    key = pd.read_csv(paths["answer_key"]).set_index("event_id").loc[test.event_id]
    assert all(by_record[x.tobytes()] == y for x, y in zip(test.X, key.label, strict=True))
    card = paths["datacard"].read_text()
    assert "run.h5: events/event[1] (cait HDF5)" in card
    assert (
        "| physics reference: likelihood" in card
        and "not computed" not in card.split("physics reference: likelihood")[1].split("\n")[0]
    )
    assert "not computed" in paths["ceiling"].read_text()


def test_float_torch_tensors_are_stored_as_float32(tmp_path):
    torch = pytest.importorskip("torch")
    counts, label = simulated(60, seed=2)
    volts = counts * 3.0e-4 + 1e-5  # not integral
    torch.save((torch.tensor(volts, dtype=torch.float32), torch.tensor(label)), tmp_path / "x.pt")
    import_challenge(tmp_path / "x.pt", tmp_path / "ch", fmt="torch", sampling_rate_hz=RATE,
                     seed=0, progress=False)  # fmt: skip
    assert data.read_metadata("test", tmp_path / "ch")["pulse_dtype"] == "float32"
    both = np.concatenate([data.load(s, tmp_path / "ch").X for s in ("train", "test")])
    np.testing.assert_array_equal(_sorted_rows(both), _sorted_rows(volts.astype(np.float32)))


def test_npz_with_integral_floats_and_a_csv_of_labels(tmp_path):
    counts, label = simulated(60, seed=3)
    np.savez(tmp_path / "x.npz", X=counts.astype(np.float64), sampling_rate_hz=RATE)
    pd.DataFrame({"label": label}).to_csv(tmp_path / "labels.csv", index=False)
    records = read_records(tmp_path / "x.npz", fmt="npz", labels=str(tmp_path / "labels.csv"))
    assert records.pulse.dtype == np.int16 and records.sampling_rate_hz == RATE
    np.testing.assert_array_equal(records.pulse, counts)
    np.testing.assert_array_equal(records.label, label)


def test_plain_hdf5_arrays(tmp_path):
    counts, label = simulated(40, seed=4)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["X"], f["y"] = counts, label
        f.attrs["sampling_rate_hz"] = RATE
    records = read_records(tmp_path / "x.h5", fmt="hdf5")
    np.testing.assert_array_equal(records.pulse, counts)
    assert records.sampling_rate_hz == RATE


@pytest.mark.parametrize(
    ("build", "options", "message"),
    [
        ("events2d", {}, r"dataset 'events/event' has shape \(5, 1024\); expected \(channels"),
        ("cait", {"channel": 2}, r"--channel 2 but dataset 'events/event' of shape \(2, 40, 1024\)"),
        ("cait", {"labels": "events/nolabels"}, r"no dataset 'events/nolabels'; the file has \['events/event', 'events/labels', 'events/mainpar'\]"),
        ("cait", {"labels": None}, r"give --labels DATASET"),
        ("badlabels", {}, r"label codes 2 \(1 record\) are not in the label map; expected 0=unlabelled,1=absorber,8=carrier\. Map each code with --label-map CODE=CLASS"),
        ("shortlabels", {}, r"labels have shape \(39,\); expected \(40,\)"),
        ("cait", {"rate": None}, r"records no sampling rate; give it with --sampling-rate"),
        ("short", {}, r"records events/event\[1\] \(cait HDF5\) have shape \(40, 32\); expected \(events, samples\)"),
        ("text", {}, r"not a readable HDF5 file"),
        ("wide", {}, r"integral records span -40000 to"),
    ],
)  # fmt: skip
def test_bad_files_name_the_dataset_and_its_shape(tmp_path, build, options, message):
    counts, label = simulated(40, seed=5)
    path = tmp_path / "bad.h5"
    if build == "events2d":
        with h5py.File(path, "w") as f:
            f["events/event"] = counts[:5]
    elif build == "text":
        path.write_text("not hdf5")
    else:
        if build == "short":
            counts = counts[:, :32]
        if build == "wide":
            counts = counts.astype(np.int32)
            counts[3, 7] = -40_000
        write_cait(path, counts.astype(np.int32) if build == "wide" else counts, label)
        with h5py.File(path, "a") as f:
            if build == "wide":
                del f["events/event"]
                events = np.zeros((2, *counts.shape), np.int32)
                events[1] = counts
                f["events/event"] = events
            if build in ("badlabels", "shortlabels"):
                del f["events/labels"]
                bad = cait_codes(label[: 39 if build == "shortlabels" else 40]).astype(float)
                bad[0] = 2 if build == "badlabels" else bad[0]
                f["events/labels"] = np.stack([bad, bad])
    labels = options.get("labels", "events/labels")
    rate = options.get("rate", RATE)
    with pytest.raises(ImportFileError, match=message):
        read_records(path, fmt="cait", channel=options.get("channel", 1), labels=labels,
                     label_map=parse_label_map(CAIT_MAP), sampling_rate_hz=rate)  # fmt: skip


def test_cli_imports_and_refuses_without_a_traceback(tmp_path):
    counts, label = simulated(60, seed=6)
    path = write_cait(tmp_path / "run.h5", counts, label)
    runner = CliRunner()
    args = ["import", str(path), "--format", "cait", "--channel", "1", "--labels",
            "events/labels", "--label-map", CAIT_MAP, "--out-dir", str(tmp_path / "ch"), "--seed",
            "3", "--quiet"]  # fmt: skip
    result = runner.invoke(main, [*args, "--sampling-rate", "25000"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ch" / "public" / "train.root").exists()
    args[args.index(str(tmp_path / "ch"))] = str(tmp_path / "other")
    result = runner.invoke(main, args)  # no sampling rate anywhere
    assert result.exit_code == 1
    assert "records no sampling rate" in result.stderr and "Traceback" not in result.output


@pytest.fixture(scope="module")
def imported_cait(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cait")
    counts, label = simulated(280, seed=7)  # codes {0, 1, 8}: 40 unlabelled records
    path = write_cait(tmp / "run.h5", counts, label, codes=cait_codes(label, n_unlabelled=40))
    import_challenge(path, tmp / "ch", fmt="cait", channel=1, labels="events/labels",
                     label_map=CAIT_MAP, sampling_rate_hz=RATE, seed=2, progress=False)  # fmt: skip
    return tmp / "ch"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_imported_challenge_trains_every_baseline(imported_cait, tmp_path):
    from baselines.cli import main as baselines_main
    from baselines.models import MODELS

    runner = CliRunner()
    for name in MODELS:
        out = tmp_path / name
        result = runner.invoke(baselines_main, ["train", name, "--data", str(imported_cait),
                                                "--epochs", "1", "--out-dir", str(out), "--quiet"])  # fmt: skip
        assert result.exit_code == 0, (name, result.output)
        assert (out / "submission.csv").exists()
    # The physics reference learned from the imported records separates these clear pulses.
    key = pd.read_csv(imported_cait / "private" / "answer_key.csv")
    sub = pd.read_csv(tmp_path / "matched-filter" / "submission.csv")
    merged = key.merge(sub, on="event_id")
    assert roc_auc_score(merged.label, merged.score) > 0.95


def test_imported_challenge_serves_on_the_leaderboard(imported_cait, app_config, make_app):
    app_config["ANSWER_KEY"] = str(imported_cait / "private" / "answer_key.csv")
    app_config["PUBLIC_DATA"] = str(imported_cait / "public")
    client = make_app(app_config).test_client()
    token = client.post("/api/teams", json={"name": "cryo"}).get_json()["token"]
    key = pd.read_csv(imported_cait / "private" / "answer_key.csv")
    scores = key.label + np.random.default_rng(0).normal(size=len(key))
    body = io.BytesIO(pd.DataFrame({"event_id": key.event_id, "score": scores}).to_csv(
        index=False).encode())  # fmt: skip
    response = client.post("/api/submissions", data={"file": (body, "s.csv")},
                           headers={"Authorization": f"Bearer {token}"},
                           content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 201, response.get_json()
    public = key.split == "public"
    expected = roc_auc_score(key.label[public], scores[public])
    assert response.get_json()["public_auc"] == pytest.approx(expected, abs=1e-12)
    page = client.get("/data")  # the imported data card and files are offered for download
    assert page.status_code == 200 and "imported detector records" in page.get_data(as_text=True)
    with client.get("/data/files/train.root") as download:
        assert download.status_code == 200
        assert download.data == (imported_cait / "public" / "train.root").read_bytes()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_file_written_by_cait_itself(tmp_path):
    """cait's own mock data (TestData, converted to HDF5 by its DataHandler); needs cait."""
    cait = pytest.importorskip("cait")
    mock = cait.data.TestData(filepath=str(tmp_path / "mock_001"), duration=1200,
                              record_length=4096, channels=[0, 1])  # fmt: skip
    mock.generate()
    handler = cait.DataHandler(channels=[0, 1], record_length=4096, sample_frequency=25_000)
    handler.convert_dataset(path_rdt=f"{tmp_path}/", fname="mock_001", path_h5=f"{tmp_path}/",
                            tpa_list=[0], processes=1)  # fmt: skip
    label = mock.is_carrier[np.abs(mock.all_tpas) < 1e-3].astype(int)  # the particle events
    pd.DataFrame({"label": cait_codes(label)}).to_csv(tmp_path / "labels.csv", index=False)
    path = tmp_path / "mock_001-P_Ch0-L_Ch1.h5"
    paths = import_challenge(path, tmp_path / "ch", fmt="cait", labels=str(tmp_path / "labels.csv"),
                             label_map=CAIT_MAP, sampling_rate_hz=25_000, seed=0, progress=False)  # fmt: skip
    with h5py.File(path, "r") as f:
        written = np.asarray(f["events/event"][0], dtype=np.float32)
    both = np.concatenate([data.load(s, tmp_path / "ch").X for s in ("train", "test")])
    np.testing.assert_array_equal(_sorted_rows(both), _sorted_rows(written))
    card = paths["datacard"].read_text()
    assert "| physics reference: likelihood ratio over onset and height" in card


def test_an_imported_challenge_of_model_submissions_keeps_test_root_private(tmp_path):
    counts, label = simulated(60, seed=3)
    np.savez(tmp_path / "x.npz", X=counts, y=label, sampling_rate_hz=RATE)
    result = CliRunner().invoke(main, ["import", str(tmp_path / "x.npz"), "--format", "npz",
                                       "--out-dir", str(tmp_path / "ch"), "--seed", "3",
                                       "--submissions", "models", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "LEADERBOARD_SUBMISSIONS=models" in result.output
    public = tmp_path / "ch" / "public"
    assert sorted(p.name for p in public.iterdir()) == [
        "DATACARD.md",
        "challenge.json",
        "train.root",
    ]
    test = data.load("test", tmp_path / "ch")  # the organizers' copy reads it from private/
    key = pd.read_csv(tmp_path / "ch" / "private" / "answer_key.csv")
    np.testing.assert_array_equal(test.event_id, key["event_id"])
    both = np.concatenate([data.load("train", tmp_path / "ch").X, test.X])
    np.testing.assert_array_equal(_sorted_rows(both), _sorted_rows(counts.astype(np.float32)))


def _by_record(X: np.ndarray, label: np.ndarray) -> dict[bytes, int]:
    return {row.astype(np.float32).tobytes(): int(y) for row, y in zip(X, label, strict=True)}


def test_cait_codes_0_1_8_are_refused_without_a_label_map_and_imported_with_one(tmp_path):
    counts, label = simulated(100, seed=8)
    codes = cait_codes(label, n_unlabelled=30)
    path = write_cait(tmp_path / "run.h5", counts, label, codes=codes)
    args = ["import", path, "--format", "cait", "--channel", 1, "--labels", "events/labels",
            "--sampling-rate", RATE, "--seed", 1, "--out-dir", tmp_path / "ch", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 1 and "Traceback" not in result.output
    n1, n8 = int(np.sum(codes == 1)), int(np.sum(codes == 8))
    assert (
        f"this file's codes are 0 (30 records), 1 ({n1} records), 8 ({n8} records). Map them, "
        "e.g. --label-map 1=absorber,8=carrier"
    ) in result.stderr
    assert not (tmp_path / "ch").exists()
    result = CliRunner().invoke(main, [str(a) for a in [*args, "--label-map", CAIT_MAP]])
    assert result.exit_code == 0, result.output
    train, test = data.load("train", tmp_path / "ch"), data.load("test", tmp_path / "ch")
    # Each record keeps its class; the 30 records of code 0 are all in train.root, as -1.
    expected = _by_record(counts, np.where(codes == 0, -1, codes == 8))
    assert [expected[x.tobytes()] for x in train.X] == train.y.tolist()
    assert int(np.sum(train.y == -1)) == 30 and len(train.y) + len(test.X) == 100
    key = pd.read_csv(tmp_path / "ch" / "private" / "answer_key.csv").set_index("event_id")
    assert [expected[x.tobytes()] for x in test.X] == key.loc[test.event_id, "label"].tolist()
    assert len(test.X) == 35  # half of the 70 labelled records
    card = (tmp_path / "ch" / "public" / "DATACARD.md").read_text()
    assert "| run.h5 | 0 | unlabelled | 30 |" in card and f"| run.h5 | 8 | carrier | {n8} |" in card
    assert "| train | 65 | " in card and "| 30 |" in card


def test_cait_code_0_is_never_a_class_and_can_be_dropped(tmp_path):
    counts, label = simulated(60, seed=9)
    path = write_cait(tmp_path / "run.h5", counts, label, codes=cait_codes(label, 10))
    options = {"fmt": "cait", "channel": 1, "labels": "events/labels", "sampling_rate_hz": RATE}
    with pytest.raises(ImportFileError, match="maps code 0 to absorber, but in a cait file it"):
        read_records(path, label_map=parse_label_map("0=absorber,1=absorber,8=carrier"), **options)
    kept = read_records(path, label_map=parse_label_map("0=drop,1=absorber,8=carrier"), **options)
    assert len(kept.label) == 50 and set(kept.label.tolist()) == {0, 1}
    np.testing.assert_array_equal(kept.pulse, counts[10:])


def test_label_maps_read_names_or_numbers_and_refuse_the_rest():
    assert parse_label_map("1=absorber, 8=carrier") == parse_label_map("1=0,8=1") == {1: 0, 8: 1}
    assert parse_label_map("0=unlabelled,3=drop,7=-1") == {0: -1, 3: -2, 7: -1}
    for bad, message in [("1=signal", "'1=signal' is not CODE=CLASS"), ("x=carrier", "'x=carrier'"),
                         ("8", "'8' is not"), ("1=0,1=1", "code 1 is mapped twice"), ("", "empty")]:  # fmt: skip
        with pytest.raises(ImportFileError, match=message):
            parse_label_map(bad)


def test_codes_outside_the_map_are_refused_with_their_counts(tmp_path):
    counts, label = simulated(40, seed=10)
    y = label.astype(int)
    y[:3] = 2
    np.savez(tmp_path / "x.npz", X=counts, y=y, sampling_rate_hz=RATE)
    with pytest.raises(ImportFileError, match=r"label codes 2 \(3 records\) are not in the label "
                       r"map; expected 0 \(absorber\) and 1 \(carrier\)"):  # fmt: skip
        read_records(tmp_path / "x.npz", fmt="npz")
    mapped = read_records(tmp_path / "x.npz", fmt="npz", label_map=parse_label_map("0=0,1=1,2=-1"))
    assert mapped.label.tolist() == [-1, -1, -1, *label[3:].tolist()]


def test_a_given_test_file_keeps_the_course_split(tmp_path):
    torch = pytest.importorskip("torch")
    counts, label = simulated(90, seed=11)
    for name, rows in (("train.pt", slice(0, 60)), ("valid.pt", slice(60, 90))):
        torch.save((torch.tensor(counts[rows]), torch.tensor(label[rows])), tmp_path / name)
    paths = import_challenge(tmp_path / "train.pt", tmp_path / "ch", fmt="torch",
                             test=tmp_path / "valid.pt", sampling_rate_hz=RATE, seed=4,
                             test_fraction=0.9, progress=False)  # fmt: skip
    train, test = data.load("train", tmp_path / "ch"), data.load("test", tmp_path / "ch")
    np.testing.assert_array_equal(_sorted_rows(train.X), _sorted_rows(counts[:60].astype("f4")))
    np.testing.assert_array_equal(_sorted_rows(test.X), _sorted_rows(counts[60:].astype("f4")))
    expected = _by_record(counts, label)
    assert [expected[x.tobytes()] for x in train.X] == train.y.tolist()
    key = pd.read_csv(paths["answer_key"]).set_index("event_id")
    assert [expected[x.tobytes()] for x in test.X] == key.loc[test.event_id, "label"].tolist()
    assert not np.array_equal(train.X, counts[:60])  # shuffled with the secret
    assert "the course's own split" in paths["datacard"].read_text()


def test_volts_per_count_comes_from_the_file_or_the_option(tmp_path):
    counts, label = simulated(60, seed=12)
    path = write_cait(tmp_path / "run.h5", counts, label, attrs={"volts_per_count": 2.5e-4})
    options = {"fmt": "cait", "channel": 1, "labels": "events/labels", "label_map": CAIT_MAP,
               "sampling_rate_hz": RATE, "seed": 0, "progress": False}  # fmt: skip
    paths = import_challenge(path, tmp_path / "a", **options)
    assert data.read_metadata("train", tmp_path / "a")["volts_per_count"] == 2.5e-4
    assert "volts = counts x 0.00025, as the file records it" in paths["datacard"].read_text()
    import_challenge(path, tmp_path / "b", volts_per_count=1e-3, **options)
    train = data.load("train", tmp_path / "b")  # volts = counts x the option's scale
    np.testing.assert_array_equal(
        _sorted_rows(train.X),
        _sorted_rows(np.concatenate([data.load("train", tmp_path / "a").X]) * np.float32(4.0)),
    )
    # Float records (not counts) are scaled to volts as they are read.
    np.savez(tmp_path / "v.npz", X=counts + 0.5, y=label, sampling_rate_hz=RATE,
             volts_per_count=1e-3)  # fmt: skip
    records = read_records(tmp_path / "v.npz", fmt="npz")
    assert records.pulse.dtype == np.float32
    np.testing.assert_allclose(records.pulse, ((counts + 0.5) * 1e-3).astype(np.float32))


def test_compressed_npz_and_torch_files_are_read_without_loading_them_whole(tmp_path):
    torch = pytest.importorskip("torch")
    counts, label = simulated(60, seed=13)
    np.savez_compressed(tmp_path / "x.npz", X=counts, y=label, sampling_rate_hz=RATE)
    np.testing.assert_array_equal(read_records(tmp_path / "x.npz", fmt="npz").pulse, counts)
    torch.save((torch.tensor(counts), torch.tensor(label)), tmp_path / "x.pt")
    records = read_records(tmp_path / "x.pt", fmt="torch", sampling_rate_hz=RATE)
    np.testing.assert_array_equal(records.pulse, counts)
    legacy = tmp_path / "old.pt"  # torch before 1.6 wrote files that cannot be memory-mapped
    torch.save((torch.tensor(counts), torch.tensor(label)), legacy,
               _use_new_zipfile_serialization=False)  # fmt: skip
    with pytest.raises(ImportFileError, match=r"before torch 1.6 cannot be read in chunks; save "
                       r"it again: torch.save\(torch.load\("):  # fmt: skip
        read_records(legacy, fmt="torch", sampling_rate_hz=RATE)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ImportFileError, match="not a torch file of plain tensors"):
        read_records(tmp_path / "junk.pt", fmt="torch", sampling_rate_hz=RATE)


def test_reading_holds_about_two_chunks_whatever_the_file_size(tmp_path):
    """Peak memory (tracemalloc) of reading every record as the import does (the checking pass,
    then the secret's order) from a cait file of 2,000 records of 2,048 int16 samples (8 MB), in
    chunks of 250 records (1 MB). benchmarks/bench_import.py measures whole imports."""
    from benchmarks.bench_import import reader_peak
    from challenge.importer import READ_CHUNK

    length, n = 2048, 2000
    rng = np.random.default_rng(0)
    counts = rng.integers(-2000, 2000, size=(n, length), dtype=np.int16)
    label = rng.integers(0, 2, size=n)
    path = write_cait(tmp_path / "big.h5", counts, label)
    chunk = READ_CHUNK * length * 2
    seen, peak = reader_peak(path)  # with cait's codes (CAIT_MAP) at 25 kHz
    assert seen == n
    # The batch being written and the one being read; the whole channel would be 8 chunks.
    assert peak < 2.5 * chunk, f"peak {peak / chunk:.2f} chunks"
