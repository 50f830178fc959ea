"""Figures of the baselines: ROC curves, training curves, and pulses per class (which the
generative models draw after training). Imports no model and no report, so that both can use it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from challenge.metrics import roc_auc_ci
from challenge.plotting import roc_frame


def plot_roc(out_png: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """One ROC curve per entry name -> (labels, scores), AUC in the legend."""
    from sklearn.metrics import roc_curve

    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        ci = roc_auc_ci(y, s)
        ax.plot(fpr, tpr, label=f"{name}: AUC {ci.value:.4f} [{ci.lo:.4f}, {ci.hi:.4f}]")
    roc_frame(ax, title="ROC on the validation split")
    ax.legend(loc="lower right", fontsize=7)
    fig.savefig(out_png, dpi=110, bbox_inches="tight")
    return Path(out_png)


def plot_training_curve(out_png: Path, history: list[dict], *, title: str = "") -> Path:
    epoch = [h["epoch"] for h in history]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(epoch, [h["train_loss"] for h in history], label="train loss")
    ax.plot(epoch, [h["val_loss"] for h in history], label="validation loss")
    ax.set(xlabel="epoch", ylabel="loss", title=f"training curve {title}".strip())
    ax2 = ax.twinx()
    ax2.plot(epoch, [h["val_auc"] for h in history], color="C2", label="validation AUC")
    ax2.set_ylabel("validation AUC")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="center right")
    fig.savefig(out_png, dpi=110, bbox_inches="tight")
    return Path(out_png)


def plot_pulse_panels(
    out_png: Path, panels: dict[str, np.ndarray], sample_period_s: float, *, title: str = ""
) -> Path:
    """One panel per entry title -> records (k, L), time axis in ms."""
    fig = Figure(figsize=(4 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (name, records) in zip(axes, panels.items(), strict=True):
        t_ms = np.arange(records.shape[1]) * sample_period_s * 1e3
        for record in records:
            ax.plot(t_ms, record, lw=0.7)
        ax.set(title=name, xlabel="time [ms]")
    axes[0].set_ylabel("preprocessed amplitude")
    fig.suptitle(title, y=1.04)
    fig.savefig(out_png, dpi=100, bbox_inches="tight")
    return Path(out_png)
