"""Reads labelled detector records from other tools' files and packages them as a challenge.

Formats: ``cait`` (cait's HDF5: ``events/event`` channels x events x samples, labels from a
dataset such as ``events/labels`` or from a CSV), ``torch`` (a pickled tuple of tensors
``(X, y)``, as in the course's notebook), ``npz`` (numpy arrays ``X`` and ``y``) and ``hdf5``
(top-level datasets ``X`` and ``y``). Integral records are stored as int16 counts, others as
float32 volts; the trigger is assumed at the end of the first quarter of each record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from challenge.detector import Detector, trigger_index
from challenge.package import package_challenge
from challenge.records import PackagingError, RecordFormat
from challenge.secret import Secret
from challenge.settings import DEFAULT_SUBMISSIONS
from challenge.splitting import split_records

FORMATS = ("cait", "torch", "npz", "hdf5")
CAIT_EVENTS = "events/event"
ARRAY_NAMES = {"X": ("X", "x", "pulse", "pulses", "events"), "y": ("y", "label", "labels")}
SAMPLING_RATE_ATTRS = ("sampling_rate_hz", "sample_frequency", "sampling_rate")
DEFAULT_TEST_FRACTION = 0.5
MIN_RECORD_LENGTH = 64
INT16 = np.iinfo(np.int16)


class ImportFileError(PackagingError):
    """A file that cannot be imported; the message names the file, the dataset and its shape."""


@dataclass(frozen=True)
class ImportedRecords:
    """Records read from a file: pulse (n, L) int16 counts or float32 volts, label (n,) int8."""

    pulse: np.ndarray
    label: np.ndarray
    sampling_rate_hz: float
    source: str  # one line: the file, the dataset and the channel

    @property
    def record_length(self) -> int:
        return int(self.pulse.shape[1])


def read_records(
    path: str | Path,
    *,
    fmt: str,
    channel: int = 0,
    labels: str | None = None,
    sampling_rate_hz: float | None = None,
) -> ImportedRecords:
    """Reads labelled records from ``path`` in format ``fmt`` (one of FORMATS).

    ``labels`` is a dataset in the file or a CSV file (a column ``label``, one row per record in
    file order); the formats other than cait find ``y`` next to ``X`` by default.
    ``sampling_rate_hz`` overrides, or supplies, the rate the file records.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ImportFileError(f"format must be one of {FORMATS}; got {fmt!r}")
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    reader = {"cait": _read_cait, "torch": _read_torch, "npz": _read_npz, "hdf5": _read_hdf5}[fmt]
    pulse, label, rate, source = reader(path, channel=channel, labels=labels)
    rate = sampling_rate_hz if sampling_rate_hz is not None else rate
    if rate is None or not np.isfinite(rate) or rate <= 0:
        raise ImportFileError(
            f"{path}: the file records no sampling rate; give it with --sampling-rate HZ"
        )
    pulse = _as_pulse(path, source, pulse)
    label = _as_labels(path, source, label, len(pulse))
    return ImportedRecords(pulse, label, float(rate), source)


def _read_cait(path: Path, *, channel: int, labels: str | None):
    h5py = _h5py()
    with _open_h5(h5py, path) as f:
        events = _dataset(f, path, CAIT_EVENTS)
        if events.ndim != 3:
            raise ImportFileError(
                f"{path}: dataset {CAIT_EVENTS!r} has shape {events.shape}; expected "
                "(channels, events, samples)"
            )
        if not 0 <= channel < events.shape[0]:
            raise ImportFileError(
                f"{path}: --channel {channel} but dataset {CAIT_EVENTS!r} of shape "
                f"{events.shape} has {events.shape[0]} channel(s) (0 to {events.shape[0] - 1})"
            )
        pulse = np.asarray(events[channel])
        rate = _h5_rate(f)
        if labels is None:
            raise ImportFileError(
                f"{path}: cait files keep labels apart; give --labels DATASET (e.g. events/labels)"
                " or --labels FILE.csv"
            )
        label = _labels(path, labels, lambda name: _channel_labels(f, path, name, channel))
    return pulse, label, rate, f"{path.name}: {CAIT_EVENTS}[{channel}] (cait HDF5)"


def _channel_labels(f, path: Path, name: str, channel: int) -> np.ndarray:
    """A label dataset of cait's shape (channels, events), or one label per event."""
    values = np.asarray(_dataset(f, path, name))
    if values.ndim == 2:
        if not 0 <= channel < values.shape[0]:
            raise ImportFileError(
                f"{path}: label dataset {name!r} of shape {values.shape} has no channel {channel}"
            )
        return values[channel]
    return values


def _read_hdf5(path: Path, *, channel: int, labels: str | None):
    h5py = _h5py()
    with _open_h5(h5py, path) as f:
        name = _find(path, f.keys(), "X")
        pulse = np.asarray(f[name])
        rate = _h5_rate(f)
        label = _labels(
            path, labels or _find(path, f.keys(), "y"), lambda n: np.asarray(_dataset(f, path, n))
        )
    return pulse, label, rate, f"{path.name}: {name} (HDF5)"


def _read_npz(path: Path, *, channel: int, labels: str | None):
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ImportFileError(f"{path}: not a readable .npz file ({err})") from None
    with archive:
        keys = list(archive.keys())
        name = _find(path, keys, "X")
        rate = float(archive["sampling_rate_hz"]) if "sampling_rate_hz" in keys else None

        def from_archive(key: str) -> np.ndarray:
            if key not in keys:
                raise ImportFileError(f"{path}: no array {key!r}; the file has {keys}")
            return archive[key]

        label = _labels(path, labels or _find(path, keys, "y"), from_archive)
        pulse = archive[name]
    return pulse, label, rate, f"{path.name}: {name} (npz)"


def _read_torch(path: Path, *, channel: int, labels: str | None):
    import pickle

    try:
        import torch
    except ImportError as err:
        raise ImportError(
            "importing torch files needs torch: pip install 'darkmatter-challenge[baselines]'"
        ) from err

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise ImportFileError(
            f"{path}: not a torch file of plain tensors (X, y) ({err.__class__.__name__})"
        ) from None
    if not (isinstance(obj, tuple | list) and len(obj) == 2):
        raise ImportFileError(
            f"{path}: expected a pickled tuple of two tensors (X, y); got {type(obj).__name__}"
        )
    X, y = (t.numpy() if isinstance(t, torch.Tensor) else np.asarray(t) for t in obj)
    if labels is not None:
        y = _labels(path, labels, lambda name: _no_dataset(path, name))
    return X, y, None, f"{path.name}: (X, y) (torch)"


def _no_dataset(path: Path, name: str):
    raise ImportFileError(
        f"{path}: a torch file has no dataset {name!r}; --labels takes a CSV here"
    )


def _labels(path: Path, labels: str, from_file) -> np.ndarray:
    """Labels from a CSV file (if ``labels`` names one) or from the dataset ``labels``."""
    csv = Path(labels)
    if csv.suffix.lower() == ".csv":
        if not csv.is_file():
            raise ImportFileError(f"{csv}: no such label file")
        frame = pd.read_csv(csv)
        if "label" not in frame.columns:
            raise ImportFileError(f"{csv}: needs a column 'label'; it has {list(frame.columns)}")
        return frame["label"].to_numpy()
    return from_file(labels)


def _as_pulse(path: Path, source: str, pulse: np.ndarray) -> np.ndarray:
    """int16 counts for integral values (of any dtype), float32 otherwise; (n, L), L >= 64."""
    pulse = np.asarray(pulse)
    if pulse.ndim != 2 or pulse.shape[0] < 1 or pulse.shape[1] < MIN_RECORD_LENGTH:
        raise ImportFileError(
            f"{path}: records {source.split(': ', 1)[1]} have shape {pulse.shape}; expected "
            f"(events, samples) with at least {MIN_RECORD_LENGTH} samples"
        )
    if not np.issubdtype(pulse.dtype, np.number) or np.issubdtype(pulse.dtype, np.complexfloating):
        raise ImportFileError(f"{path}: records have dtype {pulse.dtype}; expected real numbers")
    bad = ~np.isfinite(pulse)
    if bad.any():
        event, sample = np.argwhere(bad)[0]
        raise ImportFileError(f"{path}: record {event} has a non-finite value at sample {sample}")
    integral = np.issubdtype(pulse.dtype, np.integer) or bool(np.all(pulse == np.round(pulse)))
    if integral:
        lo, hi = int(pulse.min()), int(pulse.max())
        if lo < INT16.min or hi > INT16.max:
            raise ImportFileError(
                f"{path}: integral records span {lo} to {hi}, beyond int16 counts "
                f"({INT16.min} to {INT16.max})"
            )
        return pulse.astype(np.int16)
    return pulse.astype(np.float32)


def _as_labels(path: Path, source: str, label: np.ndarray, n: int) -> np.ndarray:
    label = np.asarray(label).reshape(-1) if np.ndim(label) == 2 and 1 in np.shape(label) else label
    label = np.asarray(label)
    if label.shape != (n,):
        raise ImportFileError(
            f"{path}: labels have shape {label.shape}; expected ({n},), one per record"
        )
    if not np.issubdtype(label.dtype, np.number):
        raise ImportFileError(f"{path}: labels have dtype {label.dtype}; expected 0 or 1")
    bad = [f"{v:g}" for v in sorted(set(np.unique(label).tolist()) - {0, 1})]
    if bad:
        raise ImportFileError(
            f"{path}: labels must be 0 (absorber) or 1 (carrier); found {', '.join(bad[:5])}"
        )
    counts = np.bincount(label.astype(np.int64), minlength=2)
    if counts.min() < 4:
        raise ImportFileError(
            f"{path}: need at least 4 records of each class; got {counts[0]} absorber, "
            f"{counts[1]} carrier"
        )
    return label.astype(np.int8)


def _find(path: Path, keys, role: str) -> str:
    for name in ARRAY_NAMES[role]:
        if name in keys:
            return name
    raise ImportFileError(
        f"{path}: no {'records' if role == 'X' else 'labels'} array named one of "
        f"{list(ARRAY_NAMES[role])}; the file has {sorted(keys)}"
    )


def _h5py():
    try:
        import h5py
    except ImportError as err:
        raise ImportError(
            "importing HDF5 files needs h5py: pip install 'darkmatter-challenge[import]'"
        ) from err
    return h5py


def _open_h5(h5py, path: Path):
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ImportFileError(f"{path}: not a readable HDF5 file ({err})") from None


def _dataset(f, path: Path, name: str):
    obj = f.get(name)
    if obj is None or not hasattr(obj, "shape"):
        found = []
        f.visititems(lambda key, item: found.append(key) if hasattr(item, "shape") else None)
        raise ImportFileError(f"{path}: no dataset {name!r}; the file has {sorted(found)}")
    return obj


def _h5_rate(f) -> float | None:
    for holder in (f, f.get("events")):
        if holder is None:
            continue
        for key in SAMPLING_RATE_ATTRS:
            if key in holder.attrs:
                return float(holder.attrs[key])
    return None


def import_challenge(
    path: str | Path,
    out_dir: str | Path,
    *,
    fmt: str,
    channel: int = 0,
    labels: str | None = None,
    sampling_rate_hz: float | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int | None = None,
    submissions: str = DEFAULT_SUBMISSIONS,
    progress: bool = True,
) -> dict[str, Path]:
    """Reads labelled records and packages them as a challenge under ``out_dir``.

    The records are shuffled with the challenge's secret and split into train and test; the
    rest is ``challenge.package.package_challenge``, as for simulated data.
    """
    if not 0 < test_fraction < 1:
        raise ImportFileError(f"test_fraction must be between 0 and 1; got {test_fraction}")
    records = read_records(
        path, fmt=fmt, channel=channel, labels=labels, sampling_rate_hz=sampling_rate_hz
    )
    n = len(records.label)
    n_test = min(max(2, int(round(test_fraction * n))), n - 2)
    secret = Secret.fresh() if seed is None else Secret.from_seed(seed)
    train, test = split_records(records.pulse, records.label, n_test=n_test, secret=secret)
    counts = records.pulse.dtype == np.int16
    detector = Detector(
        sampling_rate_hz=records.sampling_rate_hz, record_length=records.record_length
    )
    fmt_out = RecordFormat(
        sampling_rate_hz=records.sampling_rate_hz,
        record_length=records.record_length,
        trigger_index=trigger_index(records.record_length),
        volts_per_count=1.0,
        pulse_dtype="int16" if counts else "float32",
        extra={
            "generator_version": f"import ({fmt})",
            "detector": detector.to_dict(),
            "source": records.source,
        },  # fmt: skip
    )
    return package_challenge(
        train,
        test,
        out_dir,
        fmt=fmt_out,
        secret=secret,
        title="Data card: imported detector records",
        description=describe_import(records, fmt, n_test),
        submissions=submissions,
        progress=progress,
    )


def describe_import(records: ImportedRecords, fmt: str, n_test: int) -> str:
    """The data card's "What the data are" for imported records."""
    n, length = records.pulse.shape
    duration_ms = length / records.sampling_rate_hz * 1000.0
    unit = "ADC counts (int16; volts_per_count is 1: the file gives no scale)" if (
        records.pulse.dtype == np.int16) else "float32, in the file's units"  # fmt: skip
    return f"""Imported from {records.source} by `challenge import --format {fmt}`.
{n} labelled records of {length} samples at {records.sampling_rate_hz:g} Hz ({duration_ms:.1f} ms),
stored as {unit}; the trigger is taken at sample {trigger_index(length)} (the end of the first
quarter, as in cait). The records were shuffled with the challenge's secret and {n_test} of
them make the test set. Label 1 = carrier, 0 = absorber, as given by the file's labels.
There is no simulation truth: the physics reference learns its templates, noise spectrum and
onset window from the training records, and the evaluator's ceiling is not computed.
"""
