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
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from challenge import data
from challenge.datacard import write_datacard
from challenge.likelihood import Reference
from challenge.metrics import DEFAULT_SCORE_TYPE, ScoreType, score_type
from challenge.planning import resolution_by_split
from challenge.records import (
    PackagingError,
    RecordBatch,
    RecordFormat,
    Records,
    build_metadata,
    check_lengths,
)
from challenge.references import Learning, ReferenceScores, write_ceiling
from challenge.scoring import write_metric
from challenge.secret import PRIVATE_FILE_MODE, Secret, write_secret
from challenge.settings import (
    CHALLENGE_FILE,
    DEFAULT_SUBMISSIONS,
    DEFAULT_TRAINING_DATA,
    TRAINING_DATA_RULES,
    challenge_settings,
    write_settings,
)
from challenge.simulate import one_blas_thread
from challenge.splitting import (
    SAMPLE_STREAM,
    check_split_classes,
    draw_event_ids,
    draw_public_split,
    write_answer_key,
)
from challenge.submission import write_submission

SAMPLE_SUBMISSION = "sample_submission.csv"  # prediction files only: it lists the test ids


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
    oracle: Reference | None = None,
    workers: int = 1,
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
    ``oracle`` is the likelihood ratio that knows the detector that drew the records
    (``challenge.likelihood.oracle_reference``), for private/CEILING.md's best achievable bound.
    ``workers`` processes compute the reference scores of the test records; the files do not
    depend on their number.
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
    with one_blas_thread():  # this process and each worker take one core
        written = _write_records(train, test, out, fmt=fmt, secret=secret,
                                 submissions=submissions, oracle=oracle, workers=workers,
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
    paths["ceiling"] = write_ceiling(private / "CEILING.md", *written.references.bound(), aucs)
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
    references: ReferenceScores  # with the test labels and the reference scores


def _remove_other_layout(out: Path, submissions: str) -> None:
    """Delete what an earlier package of the other kind left in ``out``: a public test.root or
    sample submission of prediction files in a challenge of models, and the reverse."""
    other = "predictions" if submissions == "models" else "models"
    stale = [data.split_path("test", out, submissions=other)]
    if submissions == "models":
        stale.append(out / "public" / SAMPLE_SUBMISSION)
    for path in stale:
        path.unlink(missing_ok=True)


def _write_records(
    train, test, out: Path, *, fmt, secret, submissions, oracle, workers, progress
) -> _Written:
    """train.root and test.root (public/, or private/ for models), event ids from the secret."""
    train_ids, test_ids = draw_event_ids(secret, train.n, test.n)
    paths = {
        split: data.split_path(split, out, submissions=submissions) for split in ("train", "test")
    }
    train_labels: list[np.ndarray] = []
    train_meta = build_metadata("train", train.n, fmt, secret)
    learning = Learning(train_meta, workers=workers)  # beside the rest, once it has its records

    def on_train_batch(batch: RecordBatch) -> None:
        train_labels.append(batch.label)
        learning(batch)

    test_meta = build_metadata("test", test.n, fmt, secret)
    references = ReferenceScores(test_meta, oracle, workers=workers)
    try:
        truth_columns = _write_root(paths["train"], train, train_ids, fmt, train_meta,
                                    with_truth=True, progress=progress, on_batch=on_train_batch)  # fmt: skip
        learning.start()  # fewer than LEARN_RECORDS training records
        _write_root(paths["test"], test, test_ids, fmt, test_meta, with_truth=False,
                    progress=progress, on_batch=references)  # fmt: skip
        references.score(paths["test"], learning.result, progress=progress)
    finally:
        learning.close()
    if submissions == "models":  # in private/, which is 0700 already: no one else saw it
        os.chmod(paths["test"], PRIVATE_FILE_MODE)
    return _Written(paths, test_ids, np.concatenate(train_labels), truth_columns, references)


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
        check_lengths(len(pulse), label=label, **batch.truth)
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
