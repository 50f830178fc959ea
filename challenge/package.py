"""Packages labelled records as a challenge: public ROOT files, sample submission, data card, private answer key.

A challenge takes prediction files (the default: test.root is public) or model submissions (test.root
goes to ``DIR/private/`` and the leaderboard runs each team's ONNX model on it).

Any source of records can be packaged: the simulator (``challenge.generate``) or records imported
from a file. Everything random here (event ids, the public/private split of the answer key, the
sample submission's scores, the order of imported records) is drawn from the challenge's
``Secret``, which is stored only under ``DIR/private/``.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm import tqdm

from challenge import data
from challenge.likelihood import (
    Reference,
    learn_reference,
    log_likelihood_ratio,
    reference_from_metadata,
)
from challenge.matched_filter import SMOOTHING_MS, matched_filter_score, pulse_height_estimate
from challenge.metrics import (
    AUC,
    DEFAULT_SCORE_TYPE,
    MIN_CLASS_SIZE,
    ScoreType,
    roc_auc_ci,
    score_type,
)
from challenge.model import ModelLimits
from challenge.planning import (
    BASELINE_AUC_CORRELATION,
    CONFIDENCE,
    DEFAULT_AUC,
    RESOLVE_TARGET,
    SplitResolution,
    resolution_by_split,
)
from challenge.scoring import write_metric
from challenge.secret import PRIVATE_FILE_MODE, Secret, open_private, write_secret
from challenge.submission import write_submission

PUBLIC_FRACTION = 0.3  # of the test events, scored on the public leaderboard
LEARN_RECORDS = 2000  # train records from which the data card's learned reference is made
ID_RANGE = 10**9  # event ids are distinct random integers below this
# Streams of the secret's SeedSequence; the simulator uses (0, chunk) and (1, chunk) for its splits.
ID_STREAM, KEY_STREAM, SAMPLE_STREAM, ORDER_STREAM = 2, 3, 4, 5
PULSE_DTYPES = ("int16", "float32")  # ADC counts, or volts
# The organizer's rule on training data that teams simulate themselves with the public simulator.
# Allowed by default: the simulator is public, so a ban cannot be enforced or checked, and
# simulated records say nothing about the test labels, which derive from the secret.
TRAINING_DATA_RULES = {
    "allowed": "Teams may also train on records they simulate themselves with the public "
    "simulator (`challenge/simulate.py`, any seed and any settings), besides train.root.",
    "forbidden": "Teams may train only on the records of train.root: records simulated with the "
    "public simulator (`challenge/simulate.py`) or any other generator are not allowed.",
}
DEFAULT_TRAINING_DATA = "allowed"
CHALLENGE_FILE = data.SETTINGS_FILE  # public, machine-readable settings: the leaderboard reads it
DEFAULT_SUBMISSIONS = "predictions"
SAMPLE_SUBMISSION = "sample_submission.csv"  # prediction files only: it lists the test ids


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
        _check_lengths(len(pulse), label=label, **truth)
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


def _check_lengths(n: int, **columns: np.ndarray) -> None:
    bad = {name: len(col) for name, col in columns.items() if len(col) != n}
    if bad:
        raise PackagingError(f"every column needs one value per record ({n} records); got {bad}")


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
    _check_lengths(len(pulse), label=label, **truth)
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


def _labelled_batches(
    batches: Iterable[RecordBatch],
    ids: np.ndarray,
    fmt: RecordFormat,
    with_truth: bool,
    on_batch: Callable[[RecordBatch], None],
) -> Iterator[dict]:
    start = 0
    for batch in batches:
        pulse, label = np.asarray(batch.pulse), np.asarray(batch.label)
        if pulse.ndim != 2 or pulse.shape[1] != fmt.record_length:
            raise PackagingError(
                f"pulse batch has shape {pulse.shape}; expected (n, {fmt.record_length})"
            )
        _check_lengths(len(pulse), label=label, **batch.truth)
        stop = start + len(label)
        if stop > len(ids):
            raise PackagingError(f"the records hold more than the {len(ids)} announced")
        out = {"event_id": ids[start:stop], "pulse": pulse}
        if with_truth:
            out.update(label=label, **batch.truth)
        on_batch(batch)
        start = stop
        yield out
    if start != len(ids):
        raise PackagingError(f"the records hold {start} events; {len(ids)} were announced")


def _write_root(path, records, ids, fmt, metadata, *, with_truth, progress, on_batch) -> list[str]:
    """Writes one split's ROOT file; returns the truth columns written (those of the first batch)."""
    batches = iter(records.batches)
    first = next(batches, None)
    truth_columns = list(first.truth) if with_truth and first is not None else []
    branches = ("label", *truth_columns) if with_truth else ()
    stream = itertools.chain([first], batches) if first is not None else iter(())
    bar = tqdm(total=len(ids), unit="events", desc=path.name, disable=not progress, leave=False)

    def counted(batch: RecordBatch) -> None:
        on_batch(batch)
        bar.update(len(batch.label))

    try:
        labelled = _labelled_batches(stream, ids, fmt, with_truth, counted)
        data.write_split(path, labelled, metadata=metadata, branches=branches)
    finally:
        bar.close()
    return truth_columns


class _References:
    """Accumulates the data card's reference scores on the test records, batch by batch.

    Also the evaluator's ceiling (the likelihood ratio at the true height and onset), when the
    records carry that truth: it goes to private/, never into the public data card.
    """

    NAMES = {
        "physics": "physics reference: likelihood ratio marginalised over onset, shape and height",
        "learned": "physics reference learned from train.root (templates, noise, onset window)",
        "mf": "plain matched filter (chi² absorber - chi² carrier)",
        "height": "measured pulse height (smoothed maximum)",
        "true_height": "true pulse height (simulation truth)",
    }

    def __init__(self, metadata: dict, learned: Reference | str):
        self.metadata, self.learned = metadata, learned
        self.scores: dict[str, list] = {key: [] for key in ("label", "ceiling", *self.NAMES)}
        self.missing: dict[str, str] = {}
        if isinstance(learned, str):
            self.missing["learned"] = learned
        try:
            self.physics = reference_from_metadata(metadata)
        except ValueError:  # no simulator priors: the learned reference is the physics reference
            self.physics = learned
            if isinstance(learned, str):
                self.missing["physics"] = learned

    def _add(self, name: str, compute: Callable[[], np.ndarray]) -> None:
        if name in self.missing:
            return
        try:
            self.scores[name].append(compute())
        except ValueError as err:  # the reason goes into the data card instead of a number
            self.missing[name] = str(err)

    def __call__(self, batch: RecordBatch) -> None:
        X = np.asarray(batch.pulse, np.float32) * np.float32(self.metadata["volts_per_count"])
        self.scores["label"].append(np.asarray(batch.label))
        self._add("physics", lambda: log_likelihood_ratio(X, self.physics))
        self._add("learned", lambda: log_likelihood_ratio(X, self.learned))
        self._add("mf", lambda: matched_filter_score(X, metadata=self.metadata))
        self._add("height", lambda: pulse_height_estimate(X, metadata=self.metadata))
        truth = batch.truth
        if "pulse_height" in truth:
            self.scores["true_height"].append(np.asarray(truth["pulse_height"]))
        else:
            self.missing["true_height"] = "the records carry no true pulse height"
        if "pulse_height" in truth and "onset" in truth and not isinstance(self.physics, str):
            known = (truth["pulse_height"], truth["onset"])
            self._add("ceiling", lambda: log_likelihood_ratio(X, self.physics, truth=known))
        else:
            self.missing["ceiling"] = "the records carry no true height and onset"

    def _auc(self, key: str, y: np.ndarray):
        return self.missing.get(key) or roc_auc_ci(y, np.concatenate(self.scores[key]))

    PHYSICS_REFERENCE = "physics"  # the reference AUC at which the split resolution is planned

    def aucs(self) -> dict[str, AUC | str]:
        """ROC AUC with a 95% DeLong interval per public reference, or the reason it is missing."""
        y = np.concatenate(self.scores["label"])
        return {title: self._auc(key, y) for key, title in self.NAMES.items()}

    def ceiling(self):
        """The evaluator-only ceiling: AUC with its interval, or the reason it is missing."""
        return self._auc("ceiling", np.concatenate(self.scores["label"]))

    def reference_auc(self) -> tuple[float, str]:
        """(AUC, its name) of the physics reference, or DEFAULT_AUC when it is missing."""
        found = self.aucs()[self.NAMES[self.PHYSICS_REFERENCE]]
        if isinstance(found, str):
            return DEFAULT_AUC, f"a default of {DEFAULT_AUC} (the physics reference: {found})"
        auc = min(max(0.5, found.auc), np.nextafter(1.0, 0.0))  # planning needs AUC < 1
        return auc, f"the {self.NAMES[self.PHYSICS_REFERENCE]} on this test set"


def learned_reference(out: Path, metadata: dict) -> Reference | str:
    """The physics reference learned from the first LEARN_RECORDS records of train.root.

    Returns the reference, or the reason why it cannot be learned from these data.
    """
    first = next(data.iterate("train", out, step_size=LEARN_RECORDS))
    try:
        return learn_reference(first.X, first.y, metadata=metadata)
    except ValueError as err:
        return str(err)


def write_ceiling(path: Path, ceiling, physics) -> Path:
    """private/CEILING.md: the evaluator's ceiling next to the physics reference (owner-only)."""
    rows = _auc_rows({
        "ceiling: likelihood ratio at the true height and onset (simulation truth)": ceiling,
        _References.NAMES["physics"]: physics,
    })  # fmt: skip
    text = f"""# Headroom of this challenge (organizers only)

| score | test ROC AUC | 95% DeLong interval |
|---|---|---|
{rows}

The ceiling knows what no participant can: each test record's true pulse height and onset. It
bounds what any method can reach on these records; the physics reference is the best method
that uses no labels. Keep this file private: it is computed from the simulation truth.
"""
    with open_private(path, encoding="utf-8") as handle:
        handle.write(text)
    return path


def write_answer_key(path: Path, event_id: np.ndarray, label: np.ndarray, split) -> Path:
    """event_id,label,split as CSV, owner-only (0600) in an owner-only folder."""
    frame = pd.DataFrame({"event_id": event_id, "label": label.astype(int), "split": split})
    with open_private(path, encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False)
    return path


def package_challenge(
    train: Records,
    test: Records,
    out_dir: str | Path,
    *,
    fmt: RecordFormat,
    secret: Secret,
    description: str,
    title: str = "Data card",
    metric: ScoreType | None = None,
    simulated_training_data: str = DEFAULT_TRAINING_DATA,
    submissions: str = DEFAULT_SUBMISSIONS,
    progress: bool = True,
) -> dict[str, Path]:
    """Writes a challenge from labelled records under ``out_dir``; returns the paths by name.

    ``description`` is the data card's "What the data are" section (markdown) from the source;
    ``simulated_training_data`` is the organizer's rule, a key of TRAINING_DATA_RULES.
    Layout: public/{train.root, test.root, sample_submission.csv, DATACARD.md, challenge.json}
    and private/{answer_key.csv, metric.json, secret.json, CEILING.md}; private/ is 0700, its
    files 0600.
    ``metric`` scores the leaderboard (ROC AUC by default); metric.json records it.
    ``submissions`` is what teams upload: "predictions", or "models", where test.root goes to
    private/ (owner-only) and public/ has no sample submission, so that no test pulse and no
    test event id is published.
    """
    if train.n < 2 or test.n < 2:
        raise PackagingError(
            f"need at least 2 train and 2 test events; got n_train={train.n}, n_test={test.n}"
        )
    if simulated_training_data not in TRAINING_DATA_RULES:
        raise PackagingError(
            f"simulated_training_data must be one of {sorted(TRAINING_DATA_RULES)}; "
            f"got {simulated_training_data!r}"
        )
    if submissions not in data.SUBMISSION_KINDS:
        raise PackagingError(
            f"submissions must be one of {data.SUBMISSION_KINDS}; got {submissions!r}"
        )
    out = Path(out_dir)
    public, private = out / "public", out / "private"
    paths = {"secret": write_secret(secret, private)}
    _remove_other_layout(out, submissions)
    written = _write_records(train, test, out, fmt=fmt, secret=secret, submissions=submissions,
                             progress=progress)  # fmt: skip
    paths.update(written.paths)
    test_labels = np.concatenate(written.references.scores["label"])
    split = draw_public_split(secret, test_labels)
    check_split_classes(test_labels, split)
    paths["answer_key"] = write_answer_key(
        private / "answer_key.csv", written.test_ids, test_labels, split
    )
    metric = metric or score_type(DEFAULT_SCORE_TYPE)
    paths["metric"] = write_metric(paths["answer_key"], metric)
    aucs = written.references.aucs()
    paths["ceiling"] = write_ceiling(private / "CEILING.md", written.references.ceiling(),
                                     aucs[_References.NAMES["physics"]])  # fmt: skip
    if submissions == "predictions":  # a model submission needs no ids; they stay private
        score = secret.rng(SAMPLE_STREAM).random(test.n)  # valid but uninformative
        paths["sample_submission"] = write_submission(
            public / SAMPLE_SUBMISSION, written.test_ids, score
        )
    auc, auc_source = written.references.reference_auc()
    resolution = resolution_by_split(test_labels, split, auc=auc)
    settings = challenge_settings(train.n, test.n, secret, metric, simulated_training_data,
                                  resolution, auc_source, submissions)  # fmt: skip
    paths["challenge"] = write_settings(public / CHALLENGE_FILE, settings)
    paths["datacard"] = write_datacard(
        public / "DATACARD.md",
        title=title,
        description=description,
        fmt=fmt,
        secret=secret,
        train_labels=written.train_labels,
        test_labels=test_labels,
        truth_columns=written.truth_columns,
        references=aucs,
        metric=metric,
        settings=settings,
    )
    return paths


class _Written(NamedTuple):
    paths: dict[str, Path]
    test_ids: np.ndarray
    train_labels: np.ndarray
    truth_columns: list[str]
    references: _References  # with the test labels and the reference scores


def _remove_other_layout(out: Path, submissions: str) -> None:
    """Delete what an earlier package of the other kind left in ``out``: a public test.root or
    sample submission of prediction files in a challenge of models, and the reverse."""
    other = "predictions" if submissions == "models" else "models"
    stale = [data.split_path("test", out, submissions=other)]
    if submissions == "models":
        stale.append(out / "public" / SAMPLE_SUBMISSION)
    for path in stale:
        path.unlink(missing_ok=True)


def _write_records(train, test, out: Path, *, fmt, secret, submissions, progress) -> _Written:
    """train.root and test.root (public/, or private/ for models), event ids from the secret."""
    train_ids, test_ids = draw_event_ids(secret, train.n, test.n)
    paths = {
        split: data.split_path(split, out, submissions=submissions) for split in ("train", "test")
    }
    train_labels: list[np.ndarray] = []
    train_meta = build_metadata("train", train.n, fmt, secret)
    truth_columns = _write_root(paths["train"], train, train_ids, fmt, train_meta, with_truth=True,
                                progress=progress, on_batch=lambda b: train_labels.append(b.label))  # fmt: skip
    test_meta = build_metadata("test", test.n, fmt, secret)
    references = _References(test_meta, learned_reference(out, train_meta))
    _write_root(paths["test"], test, test_ids, fmt, test_meta, with_truth=False,
                progress=progress, on_batch=references)  # fmt: skip
    if submissions == "models":  # in private/, which is 0700 already: no one else saw it
        os.chmod(paths["test"], PRIVATE_FILE_MODE)
    return _Written(paths, test_ids, np.concatenate(train_labels), truth_columns, references)


def challenge_settings(
    n_train: int,
    n_test: int,
    secret: Secret,
    metric: ScoreType,
    simulated_training_data: str,
    resolution: list[SplitResolution],
    auc_source: str,
    submissions: str = DEFAULT_SUBMISSIONS,
) -> dict:
    """The public, machine-readable description of the challenge (public/challenge.json)."""
    return {
        "submissions": submissions,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "public_fraction": PUBLIC_FRACTION,
        "metric": metric.name,
        "public_seed": secret.seed,
        "simulated_training_data": simulated_training_data,
        "simulated_training_data_rule": TRAINING_DATA_RULES[simulated_training_data],
        "resolution": {
            "test": "paired DeLong test, two-sided",
            "confidence": CONFIDENCE,
            "auc_variance": "Hanley & McNeil (1982)",
            "reference_auc": round(resolution[0].auc, 4),
            "reference_auc_source": auc_source,
            "auc_correlation": BASELINE_AUC_CORRELATION,
            "target": RESOLVE_TARGET,
            "splits": {
                r.split: {
                    "carrier": r.n_carrier,
                    "absorber": r.n_absorber,
                    "min_auc_difference": round(r.delta, 5),
                }
                for r in resolution
            },
        },
    }


def write_settings(path: Path, settings: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_settings(data_dir: str | Path) -> dict:
    """public/challenge.json of a challenge folder."""
    return json.loads((Path(data_dir) / "public" / CHALLENGE_FILE).read_text(encoding="utf-8"))


def resolution_lines(settings: dict) -> list[str]:
    """One line per split: the smallest AUC difference it resolves; and a warning if needed."""
    res = settings["resolution"]
    lines = [
        f"the {name} split ({s['carrier']} carrier + {s['absorber']} absorber events) resolves "
        f"AUC differences of {s['min_auc_difference']:.4f} and more"
        for name, s in res["splits"].items()
    ]
    if not res["splits"]["private"]["min_auc_difference"] <= res["target"]:
        lines.append(
            f"warning: the private split cannot resolve an AUC difference of {res['target']}; "
            f"`challenge plan --auc {res['reference_auc']} --delta {res['target']}` says how "
            "many test events would"
        )
    return lines


def write_datacard(
    path: Path,
    *,
    title: str,
    description: str,
    fmt: RecordFormat,
    secret: Secret,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    truth_columns: list[str],
    references: dict,
    metric: ScoreType,
    settings: dict,
) -> Path:
    """The human-readable description of the data, with the measured reference AUCs."""
    sections = [
        f"# {title}\n",
        _provenance_section(secret),
        "## What the data are\n" + description.strip() + "\n",
        _files_section(fmt, truth_columns, settings["submissions"]),
        _balance_section(train_labels, test_labels),
        _references_section(references),
        f"## The metric\nThe leaderboard ranks by {metric.label} (`{metric.name}`, "
        f"{'higher' if metric.higher_is_better else 'lower'} is better) on the test events.\n",
        _resolution_section(settings),
        "## Training data\n" + TRAINING_DATA_RULES[settings["simulated_training_data"]] + "\n",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sections), encoding="utf-8")
    return path


def _provenance_section(secret: Secret) -> str:
    if secret.is_public:
        return f"**Warning: {secret.warning()}**\n"
    return (
        "Every random choice (records, event ids, the split of the test set) was derived from a "
        "fresh 128-bit secret that only the organizers hold.\n"
    )


def _files_section(fmt: RecordFormat, truth_columns: list[str], submissions: str) -> str:
    length = fmt.record_length
    if fmt.pulse_dtype == "int16":
        pulse = f"`pulse` (int16[{length}], ADC counts; volts = counts x {fmt.volts_per_count:.9g})"
    else:
        pulse = f"`pulse` (float32[{length}], volts)"
    truth = {"pulse_height": "`pulse_height` (float32, V, true height before saturation)",
             "onset": "`onset` (float32, ms from the record start)"}  # fmt: skip
    extras = [truth.get(name, f"`{name}` (float32)") for name in truth_columns]
    train_has = "`label` (int8)" + "".join(f", {e}" for e in extras)
    if submissions == "models":
        return _models_files_section(pulse, train_has, fmt.record_length)
    return f"""## Files and units
- `train.root`, `test.root` (ROOT, zstd-compressed): TTree `events` with
  `event_id` (int64, random and unique; row order carries no information) and
  {pulse}.
  train.root also has {train_has}.
  A TObjString `metadata` holds a JSON object: sampling rate, record length, volts per count,
  trigger index and the description of the source.
- `sample_submission.csv`: `event_id,score`, one row per test event; higher score = more carrier-like.
  Its scores are random, so it scores about 0.5.
- Read with `challenge.data.load("train")` (event_id, X in volts as float32, y) or with plain uproot.
"""


def _models_files_section(pulse: str, train_has: str, length: int) -> str:
    return f"""## Files and units
- `train.root` (ROOT, zstd-compressed): TTree `events` with `event_id` (int64, random and
  unique; row order carries no information), {pulse} and {train_has}.
  A TObjString `metadata` holds a JSON object: sampling rate, record length, volts per count,
  trigger index and the description of the source.
- Read with `challenge.data.load("train")` (event_id, X in volts as float32, y) or with plain uproot.

## Submissions: a model, run on test pulses you never see
The test pulses stay on the leaderboard's server: there is no test.root to download. Teams
upload a model, which the server's workers run in a sandbox on the test records and score.
The contract (`challenge/model.py`): one ONNX file with one input, float32 volts of shape
(batch, {length}), and one output, a score of shape (batch,) or (batch, 1), higher =
more carrier-like; the preprocessing is part of the graph; only the standard ONNX operator
domains, no external data, at most {ModelLimits.max_bytes // 2**20} MiB (by default).

1. `baselines export runs/cnn/checkpoint.pt -o model.onnx` exports a trained baseline
   (checked against torch on its validation records).
2. `challenge check-model model.onnx --data DIR` runs the server's checks and limits on the
   training records and prints the time per 1,000 records and the training AUC.
3. `challenge submit model.onnx --url URL --token TOKEN` uploads it and waits for its public score.
"""


def _balance_section(train_y: np.ndarray, test_y: np.ndarray) -> str:
    rows = "\n".join(
        f"| {name} | {len(y)} | {int(np.sum(y))} ({np.mean(y):.1%}) | {int(len(y) - np.sum(y))} |"
        for name, y in (("train", train_y), ("test", test_y))
    )
    return f"""## Class balance
| split | events | carrier (label 1) | absorber (label 0) |
|---|---|---|---|
{rows}
"""


def _auc_rows(references: dict) -> str:
    """Markdown rows | name | AUC | [lo, hi] |, or the reason a value is missing."""
    return "\n".join(
        f"| {name} | {a.auc:.4f} | [{a.lo:.4f}, {a.hi:.4f}] |"
        if not isinstance(a, str)
        else f"| {name} | not computed: {a} | |"
        for name, a in references.items()
    )


def _references_section(references: dict) -> str:
    rows = _auc_rows(references)
    return f"""## Reference ROC AUC on the test set (95% DeLong interval)
| score | AUC | interval |
|---|---|---|
{rows}

The physics reference (`challenge.likelihood`) is the likelihood ratio of carrier against
absorber, each integrated over the priors of the nuisance parameters: onset (uniform in the
window the data allow), time constants (their per-event jitter), height (the height spectrum)
and a linear baseline, with the noise spectrum as covariance. It uses no labels. The learned
reference does the same with templates (medians of aligned, labelled high pulses), a noise
spectrum (pre-trigger baselines) and an onset window taken from the first {LEARN_RECORDS}
records of train.root: what a model can learn from the training data. The plain matched filter
fits each known template (free height, onset and linear baseline) and compares the two chi².
The measured pulse height is the maximum of the record smoothed over
{SMOOTHING_MS:g} ms, minus the pre-trigger mean.
"""


def _resolution_section(settings: dict) -> str:
    res = settings["resolution"]
    lines = "\n".join(f"- {line}" for line in resolution_lines(settings))
    return f"""## What the ranking can tell apart
{lines}

Computed for a paired DeLong test at {res["confidence"]:.0%} (two-sided), at an AUC of
{res["reference_auc"]} ({res["reference_auc_source"]}), with the variance of Hanley & McNeil,
Radiology 143 (1982) 29, for these class counts, and a correlation of {res["auc_correlation"]}
between two submissions' AUC estimates (measured between the project's baselines `mlp` and `cnn`).
Two submissions closer than this are not told apart by the data.
"""
