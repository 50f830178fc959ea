"""Writes and reads the challenge's ROOT files: a TTree ``events`` of int16 pulses plus a metadata string.

Layout of ``{train,test}.root``:
- TTree ``events``: ``event_id`` int64, ``pulse`` int16[record_length] (ADC counts; float32 volts
  when the metadata's ``pulse_dtype`` is "float32"); in train.root also ``label`` int8
  (1 = carrier, 0 = absorber) and truth columns, e.g. ``pulse_height`` float32 (volts) and
  ``onset`` float32 (ms from the record start).
- TObjString ``metadata``: a JSON object (see METADATA_KEYS) with the sampling rate, record length,
  volts per ADC count, trigger index, seed (null unless a public seed made the data), generator
  version and the full detector description.
Baskets are zstd-compressed (ROOT >= 6.20 and uproot read them).

Where the files are: ``DIR/public/{train,test}.root``; a challenge of model submissions
(``public/challenge.json`` says ``"submissions": "models"``) keeps test.root in ``DIR/private/``,
with the organizers, since teams upload a model that the leaderboard runs on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

SPLITS = ("train", "test")
TREE = "events"
METADATA_KEY = "metadata"
METADATA_KEYS = (
    "split",
    "n_events",
    "sampling_rate_hz",
    "record_length",
    "volts_per_count",
    "trigger_index",
    "seed",
    "generator_version",
    "detector",
)
WRITE_BATCH = 250  # events per basket: bounds the memory of writing and reading
# zstd level 1: nine times faster to write than zlib and 6% larger; ROOT reads it since 6.20.
COMPRESSION_LEVEL = 1
SETTINGS_FILE = "challenge.json"  # in public/: the challenge's machine-readable settings
# What teams upload: a score per test event, or an ONNX model that the leaderboard runs on the
# test records, which then stay in private/ (challenge.model holds the model's contract).
SUBMISSION_KINDS = ("predictions", "models")
MODELS_HINT = (
    "the test records of a challenge of model submissions stay with the organizers: export a "
    "model with `baselines export`, check it with `challenge check-model`, upload it with "
    "`challenge submit model.onnx`"
)


class DataError(FileNotFoundError, ValueError):
    """A challenge data file is missing or not what it should be; the message names the file."""


class Events(NamedTuple):
    event_id: np.ndarray  # int64 (n,)
    X: np.ndarray  # float32 (n, L), volts
    y: np.ndarray | None  # int8 (n,), 1 = carrier; None for the test split


def submissions_kind(data_dir: str | Path = "data") -> str:
    """What the teams of the challenge in ``data_dir`` upload, from ``public/challenge.json``:
    "predictions" or "models"; "predictions" without the file or the key (older challenges)."""
    path = Path(data_dir) / "public" / SETTINGS_FILE
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "predictions"
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable JSON file ({err})") from None
    kind = settings.get("submissions", "predictions") if isinstance(settings, dict) else None
    if kind not in SUBMISSION_KINDS:
        raise DataError(f"{path}: 'submissions' is {kind!r}; expected one of {SUBMISSION_KINDS}")
    return kind


def split_path(
    split: str, data_dir: str | Path = "data", *, submissions: str | None = None
) -> Path:
    """The ROOT file of a split: ``public/`` for both, except test.root of a challenge of model
    submissions, in ``private/``. ``submissions`` defaults to what the challenge says."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    if split == "test" and (submissions or submissions_kind(data_dir)) == "models":
        return Path(data_dir) / "private" / "test.root"
    return Path(data_dir) / "public" / f"{split}.root"


def has_split(split: str, data_dir: str | Path = "data") -> bool:
    """Whether this copy of the challenge holds the split: a team's copy of a challenge of model
    submissions has no test.root."""
    return split_path(split, data_dir).is_file()


def _branch_types(record_length: int, pulse_dtype: str, branches: Iterable[str]) -> dict:
    types = {"event_id": np.int64, "pulse": np.dtype((np.dtype(pulse_dtype), (record_length,)))}
    types.update({name: np.int8 if name == "label" else np.float32 for name in branches})
    return types


def write_split(
    path: str | Path, batches: Iterable[dict], *, metadata: dict, branches: Iterable[str] = ()
) -> int:
    """Writes one split; ``batches`` yields dicts of branch arrays. Returns the number of events.

    Every file has ``event_id`` and ``pulse`` (int16 counts, or float32 volts when
    ``metadata["pulse_dtype"]`` says so); ``branches`` names the further ones (``label`` int8,
    truth columns float32).
    """
    import uproot

    missing = [k for k in METADATA_KEYS if k not in metadata]
    if missing:
        raise ValueError(f"metadata lacks {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    pulse_dtype = metadata.get("pulse_dtype", "int16")
    types = _branch_types(int(metadata["record_length"]), pulse_dtype, branches)
    with uproot.recreate(path, compression=uproot.ZSTD(COMPRESSION_LEVEL)) as f:
        f[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
        f.mktree(TREE, types, title=f"detector pulses ({pulse_dtype})")
        for batch in batches:
            f[TREE].extend(
                {
                    name: np.asarray(
                        batch[name], dtype=types[name].base if name == "pulse" else types[name]
                    )
                    for name in types
                }
            )
            n += len(batch["event_id"])
    return n


def _open_tree(path: Path):
    import uproot

    if not path.exists():
        if path.parent.name == "private":
            raise DataError(f"{path}: no such file; {MODELS_HINT}")
        raise DataError(
            f"{path}: no such file; run `challenge generate --out-dir {path.parent.parent}` to make the data"
        )
    try:
        f = uproot.open(path)
    except Exception as err:  # uproot raises several kinds for a file that is not ROOT
        raise DataError(f"{path}: not a readable ROOT file ({err})") from None
    if TREE not in f:
        raise DataError(
            f"{path}: expected a TTree {TREE!r}; the file holds {sorted(f.keys(cycle=False))}"
        )
    return f, f[TREE]


def _check_branches(path: Path, tree, wanted: Iterable[str]) -> None:
    missing = [b for b in wanted if b not in tree]
    if missing:
        raise DataError(
            f"{path}: TTree {TREE!r} lacks branches {missing}; it has {sorted(tree.keys())}"
        )


def read_metadata(split: str, data_dir: str | Path = "data") -> dict:
    """The metadata dict of a split (keys METADATA_KEYS)."""
    return read_file_metadata(split_path(split, data_dir))


def read_file_metadata(path: str | Path) -> dict:
    """The metadata dict of the split file at ``path`` (keys METADATA_KEYS), wherever it is
    (the leaderboard's private test.root in model-submission mode)."""
    path = Path(path)
    f, _ = _open_tree(path)
    if METADATA_KEY not in f:
        raise DataError(
            f"{path}: expected a TObjString {METADATA_KEY!r} with the metadata; not found"
        )
    try:
        metadata = json.loads(str(f[METADATA_KEY]))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: {METADATA_KEY!r} is not valid JSON ({err})") from None
    missing = [k for k in METADATA_KEYS if k not in metadata]
    if missing:
        raise DataError(f"{path}: metadata lacks keys {missing}")
    return metadata


def as_read(pulse: np.ndarray, metadata: dict) -> np.ndarray:
    """Pulses (n, L) as a split file with this metadata stores them and ``iterate`` reads them
    back: float32 volts."""
    stored = np.asarray(pulse, dtype=metadata.get("pulse_dtype", "int16"))
    return _volts(stored, metadata["volts_per_count"])


def _volts(pulse: np.ndarray, volts_per_count: float) -> np.ndarray:
    return pulse.astype(np.float32) * np.float32(volts_per_count)


def _to_events(arrays: dict, volts_per_count: float, with_label: bool) -> Events:
    X = _volts(arrays["pulse"], volts_per_count)
    y = arrays["label"].astype(np.int8) if with_label else None
    return Events(arrays["event_id"].astype(np.int64), X, y)


def iterate(split: str, data_dir: str | Path = "data", step_size: int = 1000) -> Iterator[Events]:
    """Yields the events of a split in chunks of ``step_size`` events (memory bounded)."""
    yield from iterate_file(split_path(split, data_dir), step_size, with_label=split == "train")


def iterate_file(
    path: str | Path,
    step_size: int = 1000,
    *,
    with_label: bool = False,
    entries: tuple[int, int] | None = None,
) -> Iterator[Events]:
    """Yields the events of the split file at ``path`` in chunks of ``step_size`` events;
    ``entries`` = (start, stop) reads only those."""
    path = Path(path)
    metadata = read_file_metadata(path)
    _, tree = _open_tree(path)
    branches = ["event_id", "pulse"] + (["label"] if with_label else [])
    _check_branches(path, tree, branches)
    start, stop = entries or (None, None)
    chunks = tree.iterate(
        branches, step_size=step_size, entry_start=start, entry_stop=stop, library="np"
    )
    for arrays in chunks:
        yield _to_events(arrays, metadata["volts_per_count"], with_label)


def load(split: str, data_dir: str | Path = "data") -> Events:
    """All events of a split: event_id int64 (n,), X float32 (n, L) in volts, y int8 (n,) or None."""
    return load_file(split_path(split, data_dir), with_label=split == "train")


def load_file(path: str | Path, *, with_label: bool = False) -> Events:
    """All events of the split file at ``path``; y is None unless ``with_label``."""
    parts = list(iterate_file(path, step_size=10_000, with_label=with_label))
    if not parts:
        length = read_file_metadata(path)["record_length"]
        return Events(
            np.empty(0, np.int64),
            np.empty((0, length), np.float32),
            np.empty(0, np.int8) if with_label else None,
        )
    y = np.concatenate([p.y for p in parts]) if with_label else None
    return Events(
        np.concatenate([p.event_id for p in parts]), np.concatenate([p.X for p in parts]), y
    )


def load_event_ids(split: str, data_dir: str | Path = "data") -> np.ndarray:
    """The event ids of a split, reading only that branch."""
    path = split_path(split, data_dir)
    _, tree = _open_tree(path)
    _check_branches(path, tree, ["event_id"])
    return tree["event_id"].array(library="np").astype(np.int64)


class PulseDataset:
    """A torch Dataset of (x, y): x float32 tensor (L,) in volts, y float32 label (NaN on the test split).

    Holds the int16 counts in memory (2 bytes a sample) and converts one record per item.
    ``transform``, if given, maps the float32 numpy record before it becomes a tensor.
    """

    def __init__(self, split: str, data_dir: str | Path = "data", transform=None):
        try:
            import torch  # noqa: F401
        except ImportError as err:
            raise ImportError("PulseDataset needs torch: pip install torch") from err
        path = split_path(split, data_dir)
        metadata = read_metadata(split, data_dir)
        _, tree = _open_tree(path)
        branches = ["event_id", "pulse"] + (["label"] if split == "train" else [])
        _check_branches(path, tree, branches)
        arrays = tree.arrays(branches, library="np")
        self.event_id = arrays["event_id"].astype(np.int64)
        self.counts = arrays["pulse"]
        self.y = (
            arrays["label"].astype(np.float32)
            if split == "train"
            else np.full(len(self.event_id), np.nan, np.float32)
        )
        self.volts_per_count = np.float32(metadata["volts_per_count"])
        self.transform = transform

    def __len__(self) -> int:
        return len(self.event_id)

    def __getitem__(self, i: int):
        import torch

        x = self.counts[i].astype(np.float32) * self.volts_per_count
        if self.transform is not None:
            x = self.transform(x)
        return torch.as_tensor(x), torch.tensor(self.y[i])
