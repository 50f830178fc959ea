"""The reference scores of a challenge's test records: the AUCs of the data card and the ceiling.

The public references (physics, learned, matched filter, heights) go into the data card; the
evaluator's ceiling (likelihood ratio at the true height and onset) goes to private/CEILING.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from challenge import data
from challenge.likelihood import (
    Reference,
    learn_reference,
    log_likelihood_ratio,
    reference_from_metadata,
)
from challenge.matched_filter import matched_filter_score, pulse_height_estimate
from challenge.metrics import AUC, roc_auc_ci
from challenge.planning import DEFAULT_AUC
from challenge.records import RecordBatch
from challenge.secret import open_private

LEARN_RECORDS = 2000  # train records from which the data card's learned reference is made


class ReferenceScores:
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
    rows = auc_rows({
        "ceiling: likelihood ratio at the true height and onset (simulation truth)": ceiling,
        ReferenceScores.NAMES["physics"]: physics,
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


def auc_rows(references: dict) -> str:
    """Markdown rows | name | AUC | [lo, hi] |, or the reason a value is missing."""
    return "\n".join(
        f"| {name} | {a.auc:.4f} | [{a.lo:.4f}, {a.hi:.4f}] |"
        if not isinstance(a, str)
        else f"| {name} | not computed: {a} | |"
        for name, a in references.items()
    )
