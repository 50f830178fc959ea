"""Validation reports and figures: AUC with DeLong CI, ROC curves, training curves, pulses,
and the markdown table of `baselines compare`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from baselines.checkpoint import TrainedModel
from challenge.metrics import roc_auc_ci


@dataclass
class ValidationResult:
    model: str
    auc: float
    lo: float
    hi: float
    n_val: int
    train_seconds: float
    train_cpu_seconds: float
    n_parameters: int
    epochs: int  # epochs run (0 for models without epochs)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def validation_result(trained: TrainedModel, y_val: np.ndarray, scores: np.ndarray):
    ci = roc_auc_ci(y_val, scores)
    return ValidationResult(
        model=trained.name,
        auc=ci.auc,
        lo=ci.lo,
        hi=ci.hi,
        n_val=len(y_val),
        train_seconds=trained.train_seconds,
        train_cpu_seconds=trained.train_cpu_seconds,
        n_parameters=trained.n_parameters,
        epochs=len(trained.history),
    )


def write_report(
    out_dir: Path, trained: TrainedModel, y_val: np.ndarray, scores: np.ndarray
) -> ValidationResult:
    """report.json, roc.png and (neural networks) training_curve.png in out_dir."""
    result = validation_result(trained, y_val, scores)
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(
        json.dumps({**result.to_dict(), "history": trained.history, "seed": trained.seed}, indent=2)
        + "\n"
    )
    plot_roc(out_dir / "roc.png", {trained.name: (y_val, scores)})
    if trained.history:
        plot_training_curve(out_dir / "training_curve.png", trained.history, title=trained.name)
    return result


def plot_roc(out_png: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """One ROC curve per entry name -> (labels, scores), AUC in the legend."""
    from sklearn.metrics import roc_curve

    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        ci = roc_auc_ci(y, s)
        ax.plot(fpr, tpr, label=f"{name}: AUC {ci.auc:.4f} [{ci.lo:.4f}, {ci.hi:.4f}]")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set(
        xlabel="false positive rate (absorber as carrier)",
        ylabel="true positive rate (carrier)",
        title="ROC on the validation split",
    )
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


def markdown_table(results: list[ValidationResult]) -> str:
    """Model | validation AUC ± CI | training time | parameters, best AUC first."""
    lines = [
        "| model | validation AUC [95% CI] | training time (CPU time) | parameters |",
        "|---|---|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: -r.auc):
        lines.append(
            f"| {r.model} | {r.auc:.4f} [{r.lo:.4f}, {r.hi:.4f}] "
            f"| {r.train_seconds:.1f} s ({r.train_cpu_seconds:.1f} s) "
            f"| {r.n_parameters:,} |"
        )
    return "\n".join(lines)
