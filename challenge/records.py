"""The labelled records a challenge is packaged from: batches, splits of them, their file format.

Any source of records can be packaged: the simulator (``challenge.generate``) or records imported
from a file (``challenge.importer``); ``challenge.package`` writes them as a challenge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from challenge import data
from challenge.secret import Secret

PULSE_DTYPES = ("int16", "float32")  # ADC counts, or volts


class PackagingError(ValueError):
    """Records that cannot be packaged as a challenge; the message says what and what was expected."""


@dataclass(frozen=True)
class RecordBatch:
    """A batch of labelled records.

    pulse : (n, L) int16 ADC counts, or float32 volts.
    label : (n,) 1 = carrier, 0 = absorber.
    truth : optional float columns (n,) written to train.root only, e.g. ``pulse_height`` (V)
        and ``onset`` (ms); ``pulse_height`` also gives the data card's "true height" AUC.
    """

    pulse: np.ndarray
    label: np.ndarray
    truth: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Records:
    """The ``n`` records of one split, read once, in batches (so large splits stay out of memory).

    The row order must carry no information about the labels: ``split_records`` shuffles
    records read from a file with the secret; the simulator draws them in random order.
    """

    n: int
    batches: Iterable[RecordBatch]

    @classmethod
    def from_arrays(
        cls, pulse: np.ndarray, label: np.ndarray, truth: Mapping[str, np.ndarray] | None = None
    ) -> Records:
        """Records held in memory: pulse (n, L), label (n,), truth columns (n,) each."""
        truth = dict(truth or {})
        check_lengths(len(pulse), label=label, **truth)
        step = data.WRITE_BATCH
        batches = (
            RecordBatch(pulse[i : i + step], label[i : i + step],
                        {k: v[i : i + step] for k, v in truth.items()})
            for i in range(0, len(pulse), step)
        )  # fmt: skip
        return cls(len(pulse), batches)


@dataclass(frozen=True)
class RecordFormat:
    """What a reader needs to interpret the pulses; goes into each ROOT file's metadata.

    volts_per_count : volts of one ADC count for int16 pulses; 1.0 for float32 volts.
    extra : further metadata of the source, e.g. ``detector``, ``simulation``,
        ``generator_version`` (challenge.data needs ``detector`` and ``generator_version``).
    """

    sampling_rate_hz: float
    record_length: int
    trigger_index: int
    volts_per_count: float = 1.0
    pulse_dtype: str = "int16"
    extra: Mapping[str, object] = field(default_factory=dict)


def check_lengths(n: int, **columns: np.ndarray) -> None:
    bad = {name: len(col) for name, col in columns.items() if len(col) != n}
    if bad:
        raise PackagingError(f"every column needs one value per record ({n} records); got {bad}")


def build_metadata(split: str, n: int, fmt: RecordFormat, secret: Secret) -> dict:
    """The JSON metadata of one ROOT file. ``seed`` is the public seed, or None for a secret."""
    if fmt.pulse_dtype not in PULSE_DTYPES:
        raise ValueError(f"pulse_dtype must be one of {PULSE_DTYPES}; got {fmt.pulse_dtype!r}")
    counts = fmt.pulse_dtype == "int16"
    return {
        **fmt.extra,
        "split": split,
        "n_events": int(n),
        "sampling_rate_hz": float(fmt.sampling_rate_hz),
        "record_length": int(fmt.record_length),
        "volts_per_count": float(fmt.volts_per_count) if counts else 1.0,
        "trigger_index": int(fmt.trigger_index),
        "pulse_dtype": fmt.pulse_dtype,
        "seed": secret.seed,
        "units": {
            "pulse": "ADC counts (int16); volts = counts * volts_per_count"
            if counts
            else "volts (float32)",
            "pulse_height": "V",
            "onset": "ms from the record start",
        },
        "label": {"0": "absorber", "1": "carrier"},
    }
