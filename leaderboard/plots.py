"""PNG figures of the leaderboard, drawn with matplotlib's Agg canvas (no display, thread-safe)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta

import matplotlib.dates as mdates
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve


def _plain(text: str) -> str:
    """``text`` with matplotlib's mathtext switched off: a team called "$x^$" is just text."""
    return text.replace("$", r"\$")


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # A team name in a script the default font lacks draws as boxes; that is no error.
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def roc_curves_png(labels: np.ndarray, curves: Sequence[tuple[str, np.ndarray, float]]) -> bytes:
    """ROC curves on the private split; ``curves`` holds (label, scores (n,), AUC) per team."""
    figure = Figure(figsize=(6, 5.5), layout="constrained")
    axes = figure.add_subplot()
    for name, scores, auc in curves:
        fpr, tpr, _ = roc_curve(labels, scores)
        axes.plot(fpr, tpr, label=f"{_plain(name)} (AUC {auc:.4f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axes.set(
        xlabel="false positive rate (absorber events called carrier)",
        ylabel="true positive rate (carrier events found)",
        title="ROC curves of the top teams, private split",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    axes.legend(loc="lower right", fontsize="small")
    return _png(figure)


def score_history_png(
    team: str,
    times: Sequence[datetime],
    public: Sequence[tuple[float, float, float]],
    private: Sequence[float] | None = None,
) -> bytes:
    """A team's public AUC (with its CI) per submission over time; private AUC once revealed."""
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.add_subplot()
    if times:
        auc = np.array([p[0] for p in public])
        errors = np.array([[p[0] - p[1] for p in public], [p[2] - p[0] for p in public]])
        axes.errorbar(times, auc, yerr=errors, fmt="o-", capsize=3, label="public AUC (95% CI)")
        if private is not None:
            axes.plot(times, private, "s--", label="private AUC")
        axes.legend(loc="lower right", fontsize="small")
        locator = mdates.AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        if max(times) - min(times) < timedelta(hours=2):  # one point would span years otherwise
            axes.set_xlim(min(times) - timedelta(hours=1), max(times) + timedelta(hours=1))
    else:
        axes.text(0.5, 0.5, "no submissions yet", ha="center", va="center")
    axes.set(ylabel="ROC AUC", title=f"{_plain(team)}: score over time (UTC)")
    return _png(figure)
