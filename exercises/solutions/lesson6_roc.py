# %% [markdown]
# # Lesson 6: ROC curves, AUC and your first submission
#
# The challenge ranks teams by the area under the ROC curve (AUC). Here you build that metric
# yourself on the challenge's own kind of data, a small challenge generated on your computer:
# - read the pulses from the ROOT files with uproot;
# - draw the ROC curve of a score by sweeping a threshold;
# - compute the AUC twice: as the probability that a random carrier outranks a random absorber,
#   and as the area under the curve by the trapezoid rule; compare with scikit-learn and with the
#   challenge's own `challenge.metrics`;
# - put an error bar on it, with DeLong's formula and with the bootstrap;
# - see why accuracy misleads when one class is rare;
# - train a small network, write a submission, validate it and score it with the challenge's
#   own validator and scorer: exactly what the leaderboard runs.
#
# Labels follow the challenge: 1 = carrier (fast pulse), 0 = absorber. A higher score means
# "more carrier-like". Fill in every `...`, then check with
#     exercises check 6 lesson6_roc.py
# and, from a shell, validate and score the submission it writes as the leaderboard would:
#     challenge validate runs/lesson6/submission.csv --data data/lesson6
#     challenge score runs/lesson6/submission.csv --answers data/lesson6/private/answer_key.csv

# %%
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import uproot
from scipy.stats import norm
from sklearn.metrics import roc_auc_score as sklearn_auc
from torch import nn

# This lesson is about the challenge, so it uses the challenge's own code: the simulator makes
# the data, and the validator and the metric are the ones the leaderboard runs.
from challenge import metrics, scoring, submission
from challenge.generate import generate_challenge
from exercises import figures


@dataclass
class Config:
    seed: int = 0
    data: str = "data/lesson6"  # the small challenge generated for this lesson
    n_train: int = 1000
    n_test: int = 600
    record_length: int = 4096  # 164 ms instead of the challenge's 655 ms: quicker, same pulses
    rare_fraction: float = 0.05  # carriers kept in the unbalanced sample
    n_bootstrap: int = 300
    block: int = 8  # samples averaged into one feature (0.32 ms)
    before: int = 32  # samples kept before the trigger
    after: int = 512  # and after it (20 ms: the pulses' rise and first decay)
    hidden: int = 32
    lr: float = 3e-3
    epochs: int = 60
    batch_size: int = 50
    out: str = "figures/lesson6"
    submission: str = "runs/lesson6/submission.csv"


# %% [markdown]
# ## A small challenge, read with uproot
# `make_challenge` runs the challenge's simulator with the course's preset, a small and easier
# challenge (`challenge generate --preset course` does the same from a shell). Each ROOT file holds a TTree `events` (`event_id`, `pulse` in ADC counts, and in
# train.root the `label`) and a `metadata` string: a JSON object with `volts_per_count`,
# `trigger_index` and `sampling_rate_hz`.


# %%
class Pulses(NamedTuple):
    event_id: np.ndarray  # int64 (n,)
    X: np.ndarray  # float32 (n, L), volts
    y: np.ndarray | None  # int8 (n,), 1 = carrier; None for the test file
    metadata: dict


def make_challenge(config: Config) -> Path:
    """Generate the lesson's challenge into config.data, unless it is there already."""
    folder = Path(config.data)
    if not (folder / "private" / "answer_key.csv").is_file():
        generate_challenge(
            folder,
            seed=config.seed,
            n_train=config.n_train,
            n_test=config.n_test,
            record_length=config.record_length,
            preset="course",
            progress=False,
        )
    return folder


def read_pulses(path: str | Path) -> Pulses:
    """The events of one ROOT file: ids, pulses in volts, labels (train.root only), metadata."""
    with uproot.open(path) as file:
        metadata = json.loads(str(file["metadata"]))  # BLANK: the JSON object in "metadata"
        tree = file["events"]
        branches = ["event_id", "pulse"] + (["label"] if "label" in tree.keys() else [])
        arrays = tree.arrays(branches, library="np")  # BLANK: the branches as numpy arrays
    # BLANK: ADC counts to volts, as float32
    X = arrays["pulse"].astype(np.float32) * np.float32(metadata["volts_per_count"])
    return Pulses(arrays["event_id"], X, arrays.get("label"), metadata)


def rise_score(pulses: Pulses) -> np.ndarray:
    """A simple physics score: the share of the first 10 ms of a pulse that comes in its first
    2 ms. Carrier pulses rise faster, so they score higher (most of the time)."""
    meta = pulses.metadata
    ms = meta["sampling_rate_hz"] / 1000
    trigger = meta["trigger_index"]
    X = pulses.X - pulses.X[:, :trigger].mean(axis=1, keepdims=True)  # baseline from pre-trigger
    start = trigger - int(1 * ms)  # the onset jitters by 1 ms around the trigger
    early = X[:, start : trigger + int(2 * ms)].sum(axis=1)
    return early / X[:, start : trigger + int(10 * ms)].sum(axis=1)


# %% [markdown]
# ## The ROC curve
# Call "carrier" every event whose score reaches a threshold t. The true positive rate is the
# fraction of carriers called carrier, the false positive rate the fraction of absorbers called
# carrier. Sweeping t from above the highest score down to the lowest traces the ROC curve from
# (0, 0) to (1, 1).


# %%
def roc_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates, thresholds), one point per distinct score
    from the highest down, after a first point (0, 0) at threshold +inf."""
    thresholds = np.r_[np.inf, np.unique(score)[::-1]]
    carriers, absorbers = np.sort(score[y == 1]), np.sort(score[y == 0])
    # BLANK: the fraction of carriers with score >= t, for every threshold t (np.searchsorted)
    tpr = 1 - np.searchsorted(carriers, thresholds, side="left") / len(carriers)
    # BLANK: the same for the absorbers: the false positive rate
    fpr = 1 - np.searchsorted(absorbers, thresholds, side="left") / len(absorbers)
    return fpr, tpr, thresholds


# %% [markdown]
# ## The AUC, two ways
# 1. The probability that a randomly drawn carrier scores higher than a randomly drawn absorber
#    (a tie counts one half): count the pairs. This is the Mann-Whitney U statistic, divided by
#    the number of pairs.
# 2. The area under the ROC curve, by the trapezoid rule: Σ (x_{i+1} - x_i) (y_{i+1} + y_i) / 2.
# Both must agree exactly, and with `sklearn.metrics.roc_auc_score` and
# `challenge.metrics.roc_auc_score` (what the leaderboard computes).


# %%
def auc_by_pairs(y: np.ndarray, score: np.ndarray) -> float:
    """P(score of a random carrier > score of a random absorber), ties counting one half."""
    diff = score[y == 1][:, None] - score[y == 0][None, :]  # (carriers, absorbers)
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))  # BLANK: wins count 1, ties 1/2


def auc_by_trapezoids(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """The area under the curve through the points (fpr, tpr), by the trapezoid rule."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # BLANK: Σ Δx (y1 + y2) / 2


# %% [markdown]
# ## How sure is the AUC?
# With m carriers and n absorbers, DeLong's formula uses each event's *placement*: for a
# carrier, the fraction of absorbers it outranks (V10); for an absorber, the fraction of
# carriers that outrank it (V01). The AUC is the mean of V10, and its variance is
# var(V10) / m + var(V01) / n. A 95% interval is AUC ± 1.96 σ.
#
# The bootstrap needs no formula: draw the events again with replacement, recompute the AUC,
# and take the central 95% of the values.


# %%
def delong_interval(
    y: np.ndarray, score: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(AUC, low, high): DeLong's two-sided interval, clipped to [0, 1]."""
    diff = score[y == 1][:, None] - score[y == 0][None, :]
    wins = (diff > 0) + 0.5 * (diff == 0)
    v10 = wins.mean(axis=1)  # BLANK: each carrier: the fraction of absorbers it outranks
    v01 = wins.mean(axis=0)  # BLANK: each absorber: the fraction of carriers that outrank it
    auc = float(v10.mean())
    # BLANK: var(V10) / m + var(V01) / n, with the sample variance (ddof=1)
    variance = v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01)
    half = norm.ppf(0.5 + confidence / 2) * np.sqrt(variance)
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def bootstrap_interval(
    y: np.ndarray, score: np.ndarray, *, n_resamples: int, seed: int, confidence: float = 0.95
) -> tuple[float, float]:
    """(low, high): the central ``confidence`` part of the AUCs of resampled events."""
    rng = np.random.default_rng(seed)
    aucs = []
    while len(aucs) < n_resamples:
        pick = rng.integers(0, len(y), len(y))  # BLANK: len(y) event indices, with replacement
        if 0 < y[pick].sum() < len(pick):  # both classes are needed for an AUC
            aucs.append(auc_by_pairs(y[pick], score[pick]))
    # BLANK: the quantiles (1 - confidence) / 2 and (1 + confidence) / 2 of the AUCs
    low, high = np.quantile(aucs, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


# %% [markdown]
# ## Accuracy and rare classes
# Accuracy, the fraction of events classified right at a threshold, depends on the threshold and
# on how common each class is. When carriers are rare, "everything is an absorber" is right
# almost always and finds no carrier at all: its AUC is 0.5. The AUC does not change when one
# class is made rarer: it compares the classes pair by pair.


# %%
def accuracy(y: np.ndarray, score: np.ndarray, threshold: float) -> float:
    """The fraction of events classified right when "carrier" means score > threshold."""
    return float(np.mean((score > threshold) == (y == 1)))  # BLANK


def rare_sample(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of all absorbers and of just enough carriers that they make ``fraction``."""
    rng = np.random.default_rng(seed)
    absorbers, carriers = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    n_carriers = int(round(fraction / (1 - fraction) * len(absorbers)))
    return np.sort(np.r_[absorbers, rng.choice(carriers, n_carriers, replace=False)])


# %% [markdown]
# ## A small network, and your first submission
# The network sees a window of each pulse around the trigger, baseline subtracted, averaged over
# blocks of samples and scaled to its largest value: the shape, not the height (which both
# classes share). Its logit is the score: higher means more carrier-like.


# %%
def features(pulses: Pulses, config: Config) -> torch.Tensor:
    """(n, (before + after) / block) float32: the scaled shape of each pulse near the trigger."""
    trigger = pulses.metadata["trigger_index"]
    X = pulses.X - pulses.X[:, :trigger].mean(axis=1, keepdims=True)
    window = X[:, trigger - config.before : trigger + config.after]
    blocks = window.reshape(len(window), -1, config.block).mean(axis=2)
    return torch.from_numpy(blocks / np.abs(blocks).max(axis=1, keepdims=True))


def make_model(n_features: int, hidden: int) -> nn.Module:
    """An MLP with one hidden layer of ``hidden`` ReLU units and one logit; output shape (n,)."""
    return nn.Sequential(
        nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Flatten(0)
    )


def train_model(config: Config, X: torch.Tensor, y: torch.Tensor) -> tuple[nn.Module, list]:
    """Adam on the binary cross-entropy of the logits; returns the model and the epoch losses."""
    torch.manual_seed(config.seed)
    model = make_model(X.shape[1], config.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed)
    history = []
    for _ in range(config.epochs):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(X), generator=shuffle).split(config.batch_size):
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(X[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / len(X))
    return model, history


def predict_scores(model: nn.Module, X: torch.Tensor) -> np.ndarray:
    """The model's score for each row of X, as a float64 numpy array (n,); higher = carrier."""
    model.eval()  # BLANK: no dropout while predicting
    with torch.no_grad():
        return model(X).double().numpy()  # BLANK: the logits, as float64 numpy


def write_submission_csv(path: str | Path, event_id: np.ndarray, score: np.ndarray) -> Path:
    """A submission: a CSV file with the header event_id,score and one row per test event."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # BLANK: a DataFrame with the columns event_id and score, written without its index
    pd.DataFrame({"event_id": event_id, "score": score}).to_csv(path, index=False)
    return path


def validate_and_score(path: str | Path, data: str | Path) -> dict[str, metrics.Estimate]:
    """Check the submission as the leaderboard does, then score it with the answer key.

    The same as `challenge validate` and `challenge score` from a shell; returns the AUC with
    its 95% interval (value, lo, hi) on the public split, the private split and all test events.
    """
    key = scoring.load_answer_key(Path(data) / "private" / "answer_key.csv")
    # BLANK: the leaderboard's validator, against the test events' ids
    checked = submission.read_submission(path, expected_ids=key["event_id"].to_numpy())
    return scoring.score_submission(checked, key)  # BLANK: the leaderboard's scorer


# %% [markdown]
# ## Putting it together


# %%
def run_all(config: Config) -> dict:
    """Make the data, study the rise score's ROC, train the network, write and score a
    submission; returns everything the figures and the checks need."""
    folder = make_challenge(config)
    train = read_pulses(folder / "public" / "train.root")
    test = read_pulses(folder / "public" / "test.root")
    rise = rise_score(train)
    X = features(train, config)
    y = torch.from_numpy(train.y.astype(np.float32))
    n_val = len(X) // 4  # the last quarter of the (randomly ordered) events for validation
    model, history = train_model(config, X[:-n_val], y[:-n_val])
    val_score = predict_scores(model, X[-n_val:])
    path = write_submission_csv(
        config.submission, test.event_id, predict_scores(model, features(test, config))
    )
    return {
        "train": train,
        "rise": rise,
        "model": model,
        "history": history,
        "val_y": train.y[-n_val:],
        "val_score": val_score,
        "submission": path,
        "scores": validate_and_score(path, folder),
    }


def write_figures(results: dict, out_dir: str | Path) -> list[Path]:
    """The ROC curves of the rise score and of the network; the network's training loss."""
    out_dir = Path(out_dir)
    curves = {}
    for name, y, score in (
        ("rise score, training events", results["train"].y, results["rise"]),
        ("network, validation events", results["val_y"], results["val_score"]),
    ):
        fpr, tpr, _ = roc_curve(y, score)
        curves[name] = (fpr, tpr, f"AUC {auc_by_trapezoids(fpr, tpr):.3f}")
    return [
        figures.plot_roc_curves(curves, out_dir / "roc.png", title="ROC curves"),
        figures.plot_loss_curves(
            {"network": results["history"]},
            out_dir / "training_loss.png",
            title="Training loss",
            first_epoch=1,
        ),
    ]


def report(results: dict, config: Config) -> None:
    y, rise = results["train"].y, results["rise"]
    fpr, tpr, _ = roc_curve(y, rise)
    print(
        f"rise score AUC: {auc_by_pairs(y, rise):.4f} by pairs, {auc_by_trapezoids(fpr, tpr):.4f}"
    )
    print(
        f"  scikit-learn {sklearn_auc(y, rise):.4f}, challenge.metrics "
        f"{metrics.roc_auc_score(y, rise):.4f}"
    )
    auc, lo, hi = delong_interval(y, rise)
    b_lo, b_hi = bootstrap_interval(y, rise, n_resamples=config.n_bootstrap, seed=config.seed)
    print(f"  95% interval: DeLong [{lo:.4f}, {hi:.4f}], bootstrap [{b_lo:.4f}, {b_hi:.4f}]")
    rare = rare_sample(y, config.rare_fraction, config.seed)
    print(
        f"with {config.rare_fraction:.0%} carriers: 'all absorbers' is right "
        f"{accuracy(y[rare], np.zeros(len(rare)), 0.5):.1%} of the time (AUC 0.5); the rise "
        f"score's AUC stays {auc_by_pairs(y[rare], rise[rare]):.3f}"
    )
    print(f"network: validation AUC {auc_by_pairs(results['val_y'], results['val_score']):.4f}")
    for split, score in results["scores"].items():
        print(f"submission {split:>8}: AUC {score.value:.4f} [{score.lo:.4f}, {score.hi:.4f}]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lesson 6: ROC curves, AUC, a submission.")
    parser.add_argument("--seed", type=int, default=Config.seed, help="seed of data and weights")
    parser.add_argument("--out", type=str, default=Config.out, help="folder for the figures")
    parser.add_argument("--dry-run", action="store_true", help="train for one epoch only")
    args, _ = parser.parse_known_args(argv)  # known ones only: Jupyter adds its own arguments
    config = Config(seed=args.seed, out=args.out, epochs=1 if args.dry_run else Config.epochs)
    if args.seed != Config.seed:  # another seed makes another challenge
        config.data = f"{Config.data}-seed{args.seed}"

    results = run_all(config)
    report(results, config)
    print(f"wrote {results['submission']}")
    for path in write_figures(results, config.out):
        print(f"wrote {path}")


# %%
if __name__ == "__main__":
    main()
