"""Plots a few pulses of each class, for ``challenge plot`` and for looking at the data; and the
frame that every figure of ROC curves shares (baselines, leaderboard, lessons)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from challenge.data import Events
from challenge.detector import SAMPLING_RATE_HZ, trigger_index

CLASS_NAMES = {0: "absorber (label 0)", 1: "carrier (label 1)"}


def roc_frame(ax, *, title: str) -> None:
    """The diagonal of a guess, the axes' labels and their limits, on the matplotlib Axes ``ax``
    of a ROC plot (false positive rate across, true positive rate up; carriers are positive)."""
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance (AUC 0.5)")
    ax.set(
        xlabel="false positive rate (absorbers called carriers)",
        ylabel="true positive rate (carriers found)",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1.01),
    )


def plot_pulses(
    events: Events, out_png: str | Path, n: int = 6, *, sampling_rate_hz: float = SAMPLING_RATE_HZ
) -> Path:
    """Writes a PNG with ``n`` pulses of each class, baseline-subtracted, in volts against ms.

    ``events`` must carry labels (the train split). The picks come from the 70th to 92nd percentile of
    the amplitudes, so that the shapes are visible above the noise.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if events.y is None:
        raise ValueError("plot_pulses needs labelled events (the train split); got y=None")
    X = np.asarray(events.X, dtype=np.float64)
    length = X.shape[1]
    t_ms = np.arange(length) * 1000.0 / sampling_rate_hz
    trigger = trigger_index(length)
    baseline = X[:, :trigger].mean(axis=1, keepdims=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, ax in zip((0, 1), axes, strict=True):
        members = np.flatnonzero(events.y == label)
        amplitude = np.ptp(X[members], axis=1)
        # Spread the picks over the upper part of the height spectrum, where shapes stand out of the noise.
        order = members[np.argsort(amplitude)]
        quantiles = np.linspace(0.7, 0.92, min(n, len(order)))
        picks = order[(quantiles * (len(order) - 1)).astype(int)]
        for i in picks:
            ax.plot(t_ms, X[i] - baseline[i], lw=0.6, label=f"id {events.event_id[i]}")
        ax.set_title(CLASS_NAMES[label])
        ax.set_xlabel("time since record start (ms)")
        ax.axvline(t_ms[trigger], color="grey", ls=":", lw=0.8)
        ax.set_xlim(t_ms[trigger] - 10.0, min(t_ms[-1], t_ms[trigger] + 60.0))
        if len(picks):
            ax.legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("voltage minus pre-trigger mean (V)")
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
