"""Reads labelled detector records from other tools' files and packages them as a challenge.

Formats: ``cait`` (cait's HDF5: ``events/event`` channels x events x samples, label codes from a
dataset such as ``events/labels`` or from a CSV), ``torch`` (a pickled tuple of tensors
``(X, y)``, as in the course's notebook), ``npz`` (numpy arrays ``X`` and ``y``) and ``hdf5``
(top-level datasets ``X`` and ``y``). Integral records are stored as int16 counts, others as
float32 volts; the trigger is assumed at the end of the first quarter of each record.

Label codes become classes through a label map (``--label-map 1=absorber,8=carrier``): cait's
codes are not classes, so a cait file needs one, and its code 0 (unlabelled) is never a class.
Unlabelled records go to train.root with label -1. Records are read READ_CHUNK at a time, twice
(a check, then the write in the secret's order), so memory does not grow with the file.
"""

from __future__ import annotations

import contextlib
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from challenge import data
from challenge.detector import Detector, trigger_index
from challenge.package import package_challenge
from challenge.records import PackagingError, RecordBatch, RecordFormat, Records
from challenge.secret import Secret
from challenge.settings import DEFAULT_SUBMISSIONS
from challenge.splitting import ORDER_STREAM
from challenge.staging import check_target, write_challenge

FORMATS = ("cait", "torch", "npz", "hdf5")
CAIT_EVENTS = "events/event"
ARRAY_NAMES = {"X": ("X", "x", "pulse", "pulses", "events"), "y": ("y", "label", "labels")}
SAMPLING_RATE_ATTRS = ("sampling_rate_hz", "sample_frequency", "sampling_rate")
VOLTS_PER_COUNT_ATTRS = ("volts_per_count",)
DEFAULT_TEST_FRACTION = 0.5
MIN_RECORD_LENGTH = 64
MIN_PER_CLASS = 4  # labelled records of each class that an import needs
READ_CHUNK = data.WRITE_BATCH  # records read at a time: bounds the memory of an import
SCAN_ROWS = 16  # rows of a float chunk checked at a time
INT16 = np.iinfo(np.int16)
# The classes a label code can map to; UNLABELLED records go to train.root only, DROP ones nowhere.
UNLABELLED, DROP = -1, -2
CLASSES = {"absorber": 0, "carrier": 1, "unlabelled": UNLABELLED, "drop": DROP}
CLASS_NAMES = {value: name for name, value in CLASSES.items()}
CLASS_ALIASES = {"0": 0, "1": 1, "-1": UNLABELLED}  # `--label-map 1=0,8=1` reads as well
CAIT_UNLABELLED = 0  # cait's code of a record nobody labelled
# Files other than cait's carry classes already: 0 absorber, 1 carrier, -1 unlabelled.
DEFAULT_LABEL_MAP = {0: 0, 1: 1, -1: UNLABELLED}
CAIT_EXAMPLE = "--label-map 1=absorber,8=carrier (cait: 1 = event pulse, 8 = carrier event)"


class ImportFileError(PackagingError):
    """A file that cannot be imported; the message names the file, the dataset and its shape."""


def parse_label_map(text: str) -> dict[int, int]:
    """``"1=absorber,8=carrier"`` -> {1: 0, 8: 1}: label codes to CLASSES values.

    A class is absorber, carrier, unlabelled or drop (or 0, 1, -1); raises ImportFileError on
    anything else, quoting it.
    """
    mapping: dict[int, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        code, sep, name = (s.strip() for s in item.partition("="))
        value = CLASSES.get(name.lower(), CLASS_ALIASES.get(name))
        try:
            number = int(code)
        except ValueError:
            number = None
        if not sep or number is None or value is None:
            raise ImportFileError(
                f"--label-map: {item!r} is not CODE=CLASS with an integer code and a class among "
                f"{', '.join(CLASSES)} (or 0, 1, -1); e.g. {CAIT_EXAMPLE}"
            )
        if number in mapping and mapping[number] != value:
            raise ImportFileError(f"--label-map: code {number} is mapped twice")
        mapping[number] = value
    if not mapping:
        raise ImportFileError(f"--label-map is empty; e.g. {CAIT_EXAMPLE}")
    return mapping


def describe_label_map(mapping: dict[int, int]) -> str:
    return ",".join(f"{code}={CLASS_NAMES[value]}" for code, value in sorted(mapping.items()))


@dataclass
class RecordFile:
    """An open file of records: ``take(rows)`` reads rows (k, L) in the file's dtype, in the
    order given (an index array) or a slice, into one new array."""

    path: Path
    source: str  # one line: the file, the dataset and the channel
    n: int
    length: int
    dtype: np.dtype
    take: Callable[[np.ndarray | slice], np.ndarray]
    codes: np.ndarray  # (n,) the file's label codes
    sampling_rate_hz: float | None
    volts_per_count: float | None

    def chunks(self) -> Iterator[np.ndarray]:
        """The records in file order, READ_CHUNK at a time."""
        for start in range(0, self.n, READ_CHUNK):
            yield self.take(slice(start, min(start + READ_CHUNK, self.n)))


@contextlib.contextmanager
def open_records(
    path: str | Path, *, fmt: str, channel: int = 0, labels: str | None = None
) -> Iterator[RecordFile]:
    """Opens ``path`` in format ``fmt`` (one of FORMATS); the records stay on disk.

    ``labels`` is a dataset in the file or a CSV file (a column ``label``, one row per record in
    file order); the formats other than cait find ``y`` next to ``X`` by default.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ImportFileError(f"format must be one of {FORMATS}; got {fmt!r}")
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    opener = {"cait": _open_cait, "torch": _open_torch, "npz": _open_npz, "hdf5": _open_hdf5}[fmt]
    with opener(path, channel=channel, labels=labels) as found:
        yield found


def _record_file(path, source, pulses, take, codes, rate, scale) -> RecordFile:
    """Checks the shapes of ``pulses`` (n, L), an array or dataset, and of the codes (n,)."""
    shape = tuple(pulses.shape)
    if len(shape) != 2 or shape[0] < 1 or shape[1] < MIN_RECORD_LENGTH:
        raise ImportFileError(
            f"{path}: records {source.split(': ', 1)[1]} have shape {shape}; expected "
            f"(events, samples) with at least {MIN_RECORD_LENGTH} samples"
        )
    dtype = np.dtype(pulses.dtype)
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        raise ImportFileError(f"{path}: records have dtype {dtype}; expected real numbers")
    codes = np.asarray(codes)
    if codes.ndim == 2 and 1 in codes.shape:
        codes = codes.reshape(-1)
    if codes.shape != (shape[0],):
        raise ImportFileError(
            f"{path}: labels have shape {codes.shape}; expected ({shape[0]},), one per record"
        )
    return RecordFile(path, source, shape[0], shape[1], dtype, take, codes, rate, scale)


@contextlib.contextmanager
def _open_cait(path: Path, *, channel: int, labels: str | None):
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
        if labels is None:
            raise ImportFileError(
                f"{path}: cait files keep labels apart; give --labels DATASET (e.g. events/labels)"
                " or --labels FILE.csv"
            )
        codes = _labels(path, labels, lambda name: _channel_labels(f, path, name, channel))
        source = f"{path.name}: {CAIT_EVENTS}[{channel}] (cait HDF5)"
        yield _record_file(
            path, source, _ChannelShape(events.shape[1:], events.dtype),
            _h5_take(events, channel), codes,
            _h5_attr(f, SAMPLING_RATE_ATTRS), _h5_attr(f, VOLTS_PER_COUNT_ATTRS),
        )  # fmt: skip


class _ChannelShape(NamedTuple):
    """The shape and dtype of one channel of cait's (channels, events, samples) dataset."""

    shape: tuple
    dtype: np.dtype


def _h5_take(dataset, *channel: int) -> Callable[[np.ndarray | slice], np.ndarray]:
    """Rows of an HDF5 dataset (events, samples), or of one channel of cait's (channels, events,
    samples): a slice in one read, an index array row by row straight into the result (h5py
    reads an index array only in increasing order, and reordering would copy the chunk)."""

    def take(rows: np.ndarray | slice) -> np.ndarray:
        if isinstance(rows, slice):
            return dataset[(*channel, rows)]
        out = np.empty((len(rows), dataset.shape[-1]), dtype=dataset.dtype)
        for i, row in enumerate(rows):
            dataset.read_direct(out, np.s_[(*channel, int(row))], np.s_[i])
        return out

    return take


def _array_take(array: np.ndarray) -> Callable[[np.ndarray | slice], np.ndarray]:
    """Rows of a memory-mapped array, in the order given, into one new array."""
    return lambda rows: np.array(array[rows]) if isinstance(rows, slice) else array.take(rows, 0)


def _channel_labels(f, path: Path, name: str, channel: int) -> np.ndarray:
    """A label dataset of cait's shape (channels, events), or one label per event."""
    values = np.asarray(_dataset(f, path, name))
    if values.ndim == 2 and values.shape[0] > 1:
        if not 0 <= channel < values.shape[0]:
            raise ImportFileError(
                f"{path}: label dataset {name!r} of shape {values.shape} has no channel {channel}"
            )
        return values[channel]
    return values


@contextlib.contextmanager
def _open_hdf5(path: Path, *, channel: int, labels: str | None):
    h5py = _h5py()
    with _open_h5(h5py, path) as f:
        name = _find(path, f.keys(), "X")
        pulses = f[name]
        codes = _labels(
            path, labels or _find(path, f.keys(), "y"), lambda n: np.asarray(_dataset(f, path, n))
        )
        yield _record_file(path, f"{path.name}: {name} (HDF5)", pulses, _h5_take(pulses), codes,
                           _h5_attr(f, SAMPLING_RATE_ATTRS), _h5_attr(f, VOLTS_PER_COUNT_ATTRS))  # fmt: skip


@contextlib.contextmanager
def _open_npz(path: Path, *, channel: int, labels: str | None):
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ImportFileError(f"{path}: not a readable .npz file ({err})") from None
    with archive, tempfile.TemporaryDirectory(prefix="challenge-import-") as spool:
        keys = list(archive.keys())
        name = _find(path, keys, "X")

        def from_archive(key: str) -> np.ndarray:
            if key not in keys:
                raise ImportFileError(f"{path}: no array {key!r}; the file has {keys}")
            return archive[key]

        codes = _labels(path, labels or _find(path, keys, "y"), from_archive)
        pulses = _spool_npz_member(path, name, Path(spool) / "records.npy")
        yield _record_file(path, f"{path.name}: {name} (npz)", pulses, _array_take(pulses), codes,
                           _npz_scalar(archive, keys, "sampling_rate_hz"),
                           _npz_scalar(archive, keys, "volts_per_count"))  # fmt: skip


def _npz_scalar(archive, keys: list[str], key: str) -> float | None:
    return float(archive[key]) if key in keys else None


def _spool_npz_member(path: Path, name: str, spool: Path) -> np.ndarray:
    """The array ``name`` of an npz, decompressed chunk by chunk to a .npy file and memory-mapped
    (numpy loads an npz member whole)."""
    fmt = np.lib.format
    with zipfile.ZipFile(path) as archive, archive.open(f"{name}.npy") as src:
        version = fmt.read_magic(src)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(src)
        if dtype.hasobject:
            raise ImportFileError(f"{path}: array {name!r} holds Python objects; expected numbers")
        out = fmt.open_memmap(spool, mode="w+", dtype=dtype, shape=shape, fortran_order=fortran)
        flat = out.reshape(-1, order="F" if fortran else "C")
        step = max(1, READ_CHUNK * (shape[-1] if shape else 1))
        for start in range(0, flat.size, step):
            stop = min(start + step, flat.size)
            flat[start:stop] = np.frombuffer(src.read((stop - start) * dtype.itemsize), dtype)
        out.flush()
        del flat, out
    return np.load(spool, mmap_mode="r")


@contextlib.contextmanager
def _open_torch(path: Path, *, channel: int, labels: str | None):
    import pickle

    try:
        import torch
    except ImportError as err:
        raise ImportError(
            "importing torch files needs torch: pip install 'darkmatter-challenge[baselines]'"
        ) from err
    try:  # memory-mapped: the tensors' bytes stay in the file until a chunk is read
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as err:
        if zipfile.is_zipfile(path) or not _starts_with_pickle(path):
            raise ImportFileError(
                f"{path}: not a torch file of plain tensors (X, y) ({err.__class__.__name__})"
            ) from None
        raise ImportFileError(
            f"{path}: a torch file in the format before torch 1.6 cannot be read in chunks; "
            f"save it again: torch.save(torch.load('{path}'), 'records.pt')"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
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
    yield _record_file(path, f"{path.name}: (X, y) (torch)", X, _array_take(X), y, None, None)


def _starts_with_pickle(path: Path) -> bool:
    """Whether ``path`` starts as a pickle does (torch's format before 1.6), from its first byte."""
    with open(path, "rb") as handle:
        return handle.read(1) == b"\x80"


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


@dataclass(frozen=True)
class Scan:
    """What one pass over the records found: whether all are integral, and their range."""

    integral: bool
    lo: float
    hi: float


def scan_records(records: RecordFile) -> Scan:
    """Checks every record, READ_CHUNK at a time: finite values; their range and integrality.

    Float chunks are checked SCAN_ROWS rows at a time, so that the checks' temporaries stay
    small beside the chunk.
    """
    integral, lo, hi = True, np.inf, -np.inf
    for start, chunk in zip(range(0, records.n, READ_CHUNK), records.chunks(), strict=True):
        if not np.issubdtype(chunk.dtype, np.integer):
            for offset in range(0, len(chunk), SCAN_ROWS):
                block = chunk[offset : offset + SCAN_ROWS]
                if not np.isfinite(block).all():
                    event, sample = np.argwhere(~np.isfinite(block))[0]
                    raise ImportFileError(
                        f"{records.path}: record {start + offset + event} has a non-finite value "
                        f"at sample {sample}"
                    )
                integral = integral and bool(np.all(block == np.round(block)))
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    return Scan(bool(integral), lo, hi)


def map_labels(records: RecordFile, label_map: dict[int, int] | None, *, fmt: str) -> np.ndarray:
    """The file's codes as classes (n,) int8: 0, 1, UNLABELLED or DROP, by ``label_map``.

    A cait file needs a map and its code 0 stays unlabelled; other files default to
    DEFAULT_LABEL_MAP. Codes outside the map are refused, with their counts.
    """
    path, codes = records.path, np.asarray(records.codes)
    if not np.issubdtype(codes.dtype, np.number):
        raise ImportFileError(f"{path}: labels have dtype {codes.dtype}; expected integer codes")
    found, counts = np.unique(codes, return_counts=True)
    listing = ", ".join(_code_count(v, c) for v, c in zip(found, counts, strict=True))
    if not np.all(np.isfinite(found) & (found == np.round(found))):
        raise ImportFileError(f"{path}: labels must be integer codes; found {listing}")
    if fmt == "cait":
        if label_map is None:
            raise ImportFileError(
                f"{path}: cait's label codes are not classes (0 = unlabelled, 1 = event pulse, "
                f"8 = carrier event, ...); this file's codes are {listing}. Map them, e.g. "
                f"{CAIT_EXAMPLE}"
            )
        if label_map.get(CAIT_UNLABELLED, UNLABELLED) not in (UNLABELLED, DROP):
            raise ImportFileError(
                f"--label-map maps code {CAIT_UNLABELLED} to "
                f"{CLASS_NAMES[label_map[CAIT_UNLABELLED]]}, but in a cait file it means "
                "unlabelled: map it to unlabelled or drop, or leave it out"
            )
        label_map = {CAIT_UNLABELLED: UNLABELLED, **label_map}
    mapping = DEFAULT_LABEL_MAP if label_map is None else label_map
    unknown = [(v, c) for v, c in zip(found, counts, strict=True) if int(v) not in mapping]
    if unknown:
        which = ", ".join(_code_count(v, c) for v, c in unknown)
        expected = describe_label_map(mapping) if label_map else "0 (absorber) and 1 (carrier)"
        raise ImportFileError(
            f"{path}: label codes {which} are not in the label map; expected {expected}. Map "
            "each code with --label-map CODE=CLASS, CLASS one of absorber, carrier, unlabelled, "
            "drop"
        )
    classes = np.array([mapping[int(v)] for v in found], dtype=np.int8)
    return classes[np.searchsorted(found, codes)]


def _code_count(code: float, count: int) -> str:
    return f"{code:g} ({count} record{'' if count == 1 else 's'})"


@dataclass(frozen=True)
class ImportedRecords:
    """Records read from a file: pulse (n, L) int16 counts or float32 volts, label (n,) int8
    (1 carrier, 0 absorber, -1 unlabelled; dropped records are left out)."""

    pulse: np.ndarray
    label: np.ndarray
    sampling_rate_hz: float
    volts_per_count: float
    source: str

    @property
    def record_length(self) -> int:
        return int(self.pulse.shape[1])


def read_records(
    path: str | Path,
    *,
    fmt: str,
    channel: int = 0,
    labels: str | None = None,
    label_map: dict[int, int] | None = None,
    sampling_rate_hz: float | None = None,
    volts_per_count: float | None = None,
) -> ImportedRecords:
    """All records of ``path`` in memory, as ``import_challenge`` would store them (for small
    files and tests; the import itself streams them)."""
    with open_records(path, fmt=fmt, channel=channel, labels=labels) as records:
        plan = _plan(
            [records], fmt=fmt, label_map=label_map, sampling_rate_hz=sampling_rate_hz,
            volts_per_count=volts_per_count,
        )  # fmt: skip
        kept = np.flatnonzero(plan.labels[0] != DROP)
        pulse = np.concatenate(
            [b.pulse for b in _stream(records, kept, plan.labels[0], plan).batches]
        )
        return ImportedRecords(pulse, plan.labels[0][kept], plan.sampling_rate_hz,
                               plan.fmt.volts_per_count, records.source)  # fmt: skip


@dataclass(frozen=True)
class _Plan:
    """How the records of one or two files are stored: their classes and the record format."""

    labels: list[np.ndarray]  # per file, (n,) int8 classes
    fmt: RecordFormat
    scale: float  # applied to float records as they are read (volts = value x scale)
    sampling_rate_hz: float


def _plan(files, *, fmt, label_map, sampling_rate_hz, volts_per_count) -> _Plan:
    """Classes, sampling rate, scale and storage type, agreed between the files."""
    first = files[0]
    rates = [sampling_rate_hz or f.sampling_rate_hz for f in files]
    if any(r is None or not np.isfinite(r) or r <= 0 for r in rates):
        raise ImportFileError(
            f"{first.path}: the file records no sampling rate; give it with --sampling-rate HZ"
        )
    scales = [volts_per_count or f.volts_per_count or 1.0 for f in files]
    for other, rate, scale in zip(files[1:], rates[1:], scales[1:], strict=True):
        if (other.length, rate, scale) != (first.length, rates[0], scales[0]):
            raise ImportFileError(
                f"{other.path}: records of {other.length} samples at {rate:g} Hz, "
                f"{scale:g} V per count; {first.path} has {first.length} samples at "
                f"{rates[0]:g} Hz, {scales[0]:g} V per count: the two files must agree"
            )
    labels = [map_labels(f, label_map, fmt=fmt) for f in files]
    scans = [scan_records(f) for f in files]
    integral = all(s.integral for s in scans)
    lo, hi = min(s.lo for s in scans), max(s.hi for s in scans)
    if integral and (lo < INT16.min or hi > INT16.max):
        raise ImportFileError(
            f"{first.path}: integral records span {lo:g} to {hi:g}, beyond int16 counts "
            f"({INT16.min} to {INT16.max})"
        )
    file_scale = next((f.volts_per_count for f in files if f.volts_per_count), None)
    record_format = RecordFormat(
        sampling_rate_hz=float(rates[0]),
        record_length=first.length,
        trigger_index=trigger_index(first.length),
        volts_per_count=scales[0] if integral else 1.0,
        pulse_dtype="int16" if integral else "float32",
        extra={
            "generator_version": f"import ({fmt})",
            "detector": Detector(sampling_rate_hz=float(rates[0]), record_length=first.length).to_dict(),
            "source": " + ".join(f.source for f in files),
            "volts_per_count_source": "option" if volts_per_count else "file" if file_scale else "none",
        },
    )  # fmt: skip
    return _Plan(labels, record_format, 1.0 if integral else scales[0], float(rates[0]))


def _stream(records: RecordFile, rows: np.ndarray, labels: np.ndarray, plan: _Plan) -> Records:
    """``rows`` of ``records`` in that order, READ_CHUNK at a time, converted for storage."""
    dtype = np.dtype(plan.fmt.pulse_dtype)

    def read(part: np.ndarray) -> np.ndarray:
        pulse = records.take(part)
        if plan.scale != 1.0:  # float records only: int16 counts keep volts_per_count
            pulse = np.multiply(pulse, plan.scale, out=pulse, dtype=pulse.dtype)
        return pulse.astype(dtype, copy=False)

    def batches() -> Iterator[RecordBatch]:
        # No local holds the file's chunk across a yield: only the batch handed on stays alive.
        for start in range(0, len(rows), READ_CHUNK):
            part = rows[start : start + READ_CHUNK]
            yield RecordBatch(read(part), labels[part])

    return Records(len(rows), batches())


def _count_classes(path: Path, label: np.ndarray, *, what: str) -> None:
    absorber, carrier = int(np.sum(label == 0)), int(np.sum(label == 1))
    if min(absorber, carrier) < MIN_PER_CLASS:
        raise ImportFileError(
            f"{path}: {what} need at least {MIN_PER_CLASS} records of each class; got "
            f"{absorber} absorber, {carrier} carrier"
        )


def import_challenge(
    path: str | Path,
    out_dir: str | Path,
    *,
    fmt: str,
    channel: int = 0,
    labels: str | None = None,
    label_map: dict[int, int] | str | None = None,
    test: str | Path | None = None,
    test_labels: str | None = None,
    sampling_rate_hz: float | None = None,
    volts_per_count: float | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int | None = None,
    submissions: str = DEFAULT_SUBMISSIONS,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    """Reads labelled records and packages them as a challenge under ``out_dir``.

    Without ``test``, the labelled records are shuffled with the challenge's secret and
    ``test_fraction`` of them make the test set; with ``test`` (a second file of the same
    format), ``path`` makes train.root and ``test`` test.root: the course's own split. Unlabelled
    records go to train.root with label -1. ``label_map`` maps codes to classes
    (``parse_label_map``). The rest is ``challenge.package.package_challenge``, as for
    simulated data, written through ``challenge.staging.write_challenge`` (``force``).
    """
    if not 0 < test_fraction < 1:
        raise ImportFileError(f"test_fraction must be between 0 and 1; got {test_fraction}")
    if isinstance(label_map, str):
        label_map = parse_label_map(label_map)
    if test is not None and test_labels is None and labels is not None:
        if Path(labels).suffix.lower() == ".csv":
            raise ImportFileError(
                f"--labels {labels} is a CSV for {path}; give the test file's labels with "
                "--test-labels"
            )
        test_labels = labels
    check_target(out_dir, force=force)  # before the records are read: a refusal costs nothing
    secret = Secret.fresh() if seed is None else Secret.from_seed(seed)
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(open_records(path, fmt=fmt, channel=channel, labels=labels))]
        if test is not None:
            files.append(stack.enter_context(
                open_records(test, fmt=fmt, channel=channel, labels=test_labels)))  # fmt: skip
        plan = _plan(files, fmt=fmt, label_map=label_map, sampling_rate_hz=sampling_rate_hz,
                     volts_per_count=volts_per_count)  # fmt: skip
        train, test_records, split_note = _split(files, plan, secret, test_fraction)
        description = describe_import(files, plan, fmt, split_note)
        return write_challenge(
            out_dir,
            lambda folder: package_challenge(
                train, test_records, folder, fmt=plan.fmt, secret=secret,
                title="Data card: imported detector records", description=description,
                submissions=submissions, progress=progress,
            ),
            force=force,
        )  # fmt: skip


def _split(files, plan: _Plan, secret: Secret, test_fraction: float):
    """(train Records, test Records, a sentence on the split) in the secret's order."""
    label = plan.labels[0]
    labelled, unlabelled = np.flatnonzero(label >= 0), np.flatnonzero(label == UNLABELLED)
    _count_classes(
        files[0].path, label, what="the training records" if len(files) > 1 else "the records"
    )
    if len(files) > 1:
        test_label = plan.labels[1]
        if np.any(test_label == UNLABELLED):
            raise ImportFileError(
                f"{files[1].path}: {int(np.sum(test_label == UNLABELLED))} test records are "
                "unlabelled; every test record needs a class (map their code to drop to leave "
                "them out)"
            )
        train_rows = secret.rng(ORDER_STREAM).permutation(np.flatnonzero(label != DROP))
        test_rows = secret.rng(ORDER_STREAM, 1).permutation(np.flatnonzero(test_label >= 0))
        note = (f"train.root holds the records of {files[0].path.name} and test.root those of "
                f"{files[1].path.name}: the course's own split, each shuffled with the secret")  # fmt: skip
        return (_stream(files[0], train_rows, label, plan),
                _stream(files[1], test_rows, test_label, plan), note)  # fmt: skip
    order = secret.rng(ORDER_STREAM).permutation(labelled)
    n_test = min(max(2, int(round(test_fraction * len(labelled)))), len(labelled) - 2)
    test_rows = order[:n_test]
    train_rows = secret.rng(ORDER_STREAM, 1).permutation(
        np.concatenate([order[n_test:], unlabelled])
    )
    note = (f"the labelled records were shuffled with the challenge's secret and {n_test} of them "
            "make the test set")  # fmt: skip
    return (_stream(files[0], train_rows, label, plan), _stream(files[0], test_rows, label, plan),
            note)  # fmt: skip


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


def _h5_attr(f, names: tuple[str, ...]) -> float | None:
    for holder in (f, f.get("events")):
        if holder is None:
            continue
        for key in names:
            if key in holder.attrs:
                return float(holder.attrs[key])
    return None


def describe_import(files: list[RecordFile], plan: _Plan, fmt: str, split_note: str) -> str:
    """The data card's "What the data are" for imported records."""
    length, rate = plan.fmt.record_length, plan.sampling_rate_hz
    duration_ms = length / rate * 1000.0
    scale = {"option": "as given with --volts-per-count", "file": "as the file records it",
             "none": "since the file gives no scale"}[plan.fmt.extra["volts_per_count_source"]]  # fmt: skip
    if plan.fmt.pulse_dtype == "int16":
        unit = f"int16 ADC counts (volts = counts x {plan.fmt.volts_per_count:g}, {scale})"
    else:
        unit = f"float32 volts (the file's values x {plan.scale:g}, {scale})"
    rows = "\n".join(
        f"| {f.path.name} | {v:g} | {CLASS_NAMES[c]} | {n} |"
        for f, classes in zip(files, plan.labels, strict=True)
        for v, c, n in _code_rows(f.codes, classes)
    )
    n_unlabelled = int(np.sum(plan.labels[0] == UNLABELLED))
    return f"""Imported from {" and ".join(f.source for f in files)} by `challenge import --format {fmt}`.
Records of {length} samples at {rate:g} Hz ({duration_ms:.1f} ms), stored as {unit}.
The trigger is taken at sample {trigger_index(length)} (the end of the first quarter, as in cait).
{split_note[0].upper() + split_note[1:]}.

The file's label codes became classes as follows (label 1 = carrier, 0 = absorber, -1 = unlabelled):

| file | code | class | records |
|---|---|---|---|
{rows}

{n_unlabelled} unlabelled records are in train.root with label -1 (never in the test set): the
baselines skip them, and a team may use them (noise spectra, pulse shapes, semi-supervised
learning). Dropped records are in neither file.
There is no simulation truth: the physics reference learns its templates, noise spectrum and
onset window from the training records, and the evaluator's ceiling is not computed.
"""


def _code_rows(codes: np.ndarray, classes: np.ndarray):
    """(code, class, count) for each code of a file."""
    found, first, counts = np.unique(codes, return_index=True, return_counts=True)
    return [(v, int(classes[i]), int(c)) for v, i, c in zip(found, first, counts, strict=True)]
