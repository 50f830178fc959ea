"""Validation reports: AUC with DeLong CI, report.json with its figures (``baselines.plots``),
and the markdown table of `baselines compare`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from baselines.checkpoint import TrainedModel
from baselines.plots import plot_roc, plot_training_curve
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
        auc=ci.value,
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
