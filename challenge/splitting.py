"""Everything drawn from the challenge's secret to split the records: event ids, the shuffle of
imported records, the public/private split of the answer key (written owner-only), the sample scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from challenge.metrics import MIN_CLASS_SIZE
from challenge.records import PackagingError, Records, check_lengths
from challenge.secret import Secret, open_private

PUBLIC_FRACTION = 0.3  # of the test events, scored on the public leaderboard
ID_RANGE = 10**9  # event ids are distinct random integers below this
# Streams of the secret's SeedSequence; the simulator uses (0, chunk) and (1, chunk) for its splits.
ID_STREAM, KEY_STREAM, SAMPLE_STREAM, ORDER_STREAM = 2, 3, 4, 5


def split_records(
    pulse: np.ndarray,
    label: np.ndarray,
    truth: Mapping[str, np.ndarray] | None = None,
    *,
    n_test: int,
    secret: Secret,
) -> tuple[Records, Records]:
    """Shuffles in-memory records with the secret and splits them into (train, test).

    Records imported from a file may be sorted (by label, by run); the shuffle removes any
    information that the row order would carry.
    """
    truth = dict(truth or {})
    check_lengths(len(pulse), label=label, **truth)
    if not 0 < n_test < len(pulse):
        raise PackagingError(f"n_test must be between 1 and {len(pulse) - 1}; got {n_test}")
    order = secret.rng(ORDER_STREAM).permutation(len(pulse))
    parts = order[n_test:], order[:n_test]
    return tuple(
        Records.from_arrays(pulse[rows], label[rows], {k: v[rows] for k, v in truth.items()})
        for rows in parts
    )  # type: ignore[return-value]


def check_split_classes(label: np.ndarray, split: np.ndarray) -> None:
    """Each split of the answer key needs MIN_CLASS_SIZE events of each class to be scored."""
    for name in ("public", "private"):
        carriers = int(np.sum(label[split == name] == 1))
        absorbers = int(np.sum(split == name)) - carriers
        if min(carriers, absorbers) < MIN_CLASS_SIZE:
            raise PackagingError(
                f"the {name} split of the {len(label)} test events holds {carriers} carrier and "
                f"{absorbers} absorber events; scoring needs at least {MIN_CLASS_SIZE} of each: "
                "use more test events"
            )


def draw_event_ids(secret: Secret, n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random event ids below ID_RANGE, int64: (train ids, test ids)."""
    ids = secret.rng(ID_STREAM).choice(ID_RANGE, size=n_train + n_test, replace=False)
    ids = ids.astype(np.int64)
    return ids[:n_train], ids[n_train:]


def draw_public_split(secret: Secret, label: np.ndarray) -> np.ndarray:
    """'public' or 'private' per test event: PUBLIC_FRACTION of each class, at random."""
    rng = secret.rng(KEY_STREAM)
    split = np.full(len(label), "private", dtype=object)
    for cls in (0, 1):
        members = rng.permutation(np.flatnonzero(label == cls))
        split[members[: int(round(PUBLIC_FRACTION * len(members)))]] = "public"
    return split


def write_answer_key(path: Path, event_id: np.ndarray, label: np.ndarray, split) -> Path:
    """event_id,label,split as CSV, owner-only (0600) in an owner-only folder."""
    frame = pd.DataFrame({"event_id": event_id, "label": label.astype(int), "split": split})
    with open_private(path, encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False)
    return path
