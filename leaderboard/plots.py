"""PNG figures of the leaderboard, drawn with matplotlib's Agg canvas (no display, thread-safe)."""

from __future__ import annotations

import io
import textwrap
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import ParamSpec

import matplotlib.dates as mdates
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import roc_curve

from challenge.metrics import DEFAULT_SCORE_TYPE, ScoreType, score_type
from challenge.plotting import roc_frame

ROC_AUC = score_type(DEFAULT_SCORE_TYPE)
Arguments = ParamSpec("Arguments")


# Longest team name drawn whole in a legend or on an axis; longer ones end in "…", so that one
# long name cannot push the legend or the axis labels out of the figure.
LEGEND_CHARS = 30
TICK_CHARS = 16


def _short(name: str, limit: int) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


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


def _as_png(draw: Callable[Arguments, Figure]) -> Callable[Arguments, bytes]:
    """``draw``, with the same arguments, returning its figure as PNG bytes."""

    def draw_png(*args: Arguments.args, **kwargs: Arguments.kwargs) -> bytes:
        return _png(draw(*args, **kwargs))

    draw_png.__doc__ = f"``{draw.__name__}`` as PNG bytes."
    return draw_png


def roc_curves_png(
    labels: np.ndarray,
    curves: Sequence[tuple[str, np.ndarray, float]],
    metric: ScoreType = ROC_AUC,
    *,
    title: str = "ROC curves, private split",
) -> bytes:
    """ROC curves on the private split; ``curves`` holds (label, scores (n,), the metric's value)
    per team; ``title`` says which (``ranking.roc_caption``)."""
    figure = Figure(figsize=(6, 5.5), layout="constrained")
    axes = figure.add_subplot()
    for name, scores, value in curves:
        fpr, tpr, _ = roc_curve(labels, scores)
        label = (
            f"{_plain(_short(name, LEGEND_CHARS))} ({metric.short_label} {metric.format(value)})"
        )
        axes.plot(fpr, tpr, label=label)
    roc_frame(axes, title=title)
    axes.legend(loc="lower right", fontsize="small")
    return _png(figure)


# The score history's time axis: the submission times plus this share of their span on each
# side, and at least MIN_TIME_PAD, so that uploads minutes apart spread across the plot.
TIME_PAD_FRACTION = 0.05
MIN_TIME_PAD = timedelta(minutes=1)


# Tick labels of the time axis at each level of matplotlib's ConciseDateFormatter (years, months,
# days, hours, minutes, seconds): whole clock times and dates, never a bare "15" that could be
# seconds or a day; the first tick of a new day or minute says so.
TIME_FORMATS = ["%Y", "%b", "%d %b", "%H:%M", "%H:%M", "%H:%M:%S"]
TIME_ZERO_FORMATS = ["", "%Y", "%b", "%d %b", "%H:%M", "%H:%M"]


def time_limits(times: Sequence[datetime]) -> tuple[datetime, datetime]:
    """The x range of a score history: the submission times and a small margin."""
    first, last = min(times), max(times)
    pad = max((last - first) * TIME_PAD_FRACTION, MIN_TIME_PAD)
    return first - pad, last + pad


def score_history_figure(
    team: str,
    times: Sequence[datetime],
    public: Sequence[tuple[float, float, float]],
    private: Sequence[float] | None = None,
    metric: ScoreType = ROC_AUC,
    *,
    finals: Sequence[bool] | None = None,
    counted: int | None = None,
    counted_label: str = "shown on the leaderboard",
    pending: int = 0,
) -> Figure:
    """A team's public score (with its CI) per submission over time; private score once revealed.

    ``finals`` (one flag per submission) marks the submissions marked final with a star, and
    ``counted`` (an index) rings the one whose score the leaderboard shows; ``pending`` says how
    many submissions are queued or running, without a score yet.
    """
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.add_subplot()
    if times:
        value = np.array([p[0] for p in public])
        errors = np.array([[p[0] - p[1] for p in public], [p[2] - p[0] for p in public]])
        axes.errorbar(times, value, yerr=errors, fmt="o-", capsize=3,
                      label=f"public {metric.short_label} (95% CI)")  # fmt: skip
        if private is not None:
            axes.plot(times, private, "s--", label=f"private {metric.short_label}")
        marked = [i for i, final in enumerate(finals or []) if final]
        if marked:
            axes.plot([times[i] for i in marked], value[marked], "*", markersize=16,
                      color="#e0a800", markeredgecolor="black", label="marked final")  # fmt: skip
        if counted is not None:
            axes.plot([times[counted]], [value[counted]], "o", markersize=18, fillstyle="none",
                      markeredgewidth=2, color="#2e7d32", label=counted_label)  # fmt: skip
        axes.legend(loc="lower right", fontsize="small")
        locator = mdates.AutoDateLocator(minticks=2, maxticks=6)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(
            locator, formats=TIME_FORMATS, zero_formats=TIME_ZERO_FORMATS))  # fmt: skip
        axes.set_xlim(*time_limits(times))
        if pending:
            axes.text(0.02, 0.97, _pending_words(pending, more=True), transform=axes.transAxes,
                      ha="left", va="top", fontsize="small")  # fmt: skip
    else:
        words = _pending_words(pending, more=False) if pending else "no submissions yet"
        axes.text(0.5, 0.5, words, ha="center", va="center")
    axes.set(ylabel=metric.label,
             title=f"{_plain(_short(team, LEGEND_CHARS))}: score over time (UTC)")  # fmt: skip
    return figure


score_history_png = _as_png(score_history_figure)


def _pending_words(pending: int, *, more: bool) -> str:
    """ "1 submission queued or running:\nits score shows here once scored"."""
    plural = pending > 1
    what = f"{pending} {'more ' if more else ''}submission{'s' if plural else ''}"
    scores = "their scores show" if plural else "its score shows"
    return f"{what} queued or running:\n{scores} here once scored"


# The blob plot's caption, wrapped to the figure's width (characters of "small" text per inch).
STABILITY_CAPTION = "blob area: share of resamples; line: 95% interval; ×: median"
CAPTION_CHARS_PER_INCH = 11


def rank_stability_figure(
    teams: Sequence[str],
    rank_counts: Sequence[dict[int, int]],
    intervals: Sequence[tuple[int, int]],
) -> Figure:
    """A blob plot of bootstrap ranks (challengeR's): per team, in ranking order, a blob per rank
    whose area is the share of resamples with that rank, and a line over its 95% interval."""
    width = max(4.0, 0.45 * len(teams) + 1.5)
    figure = Figure(figsize=(width, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for x, (counts, (lo, hi)) in enumerate(zip(rank_counts, intervals, strict=True)):
        ranks = np.array(sorted(counts))
        share = np.array([counts[r] for r in ranks], dtype=float) / sum(counts.values())
        axes.scatter(np.full(len(ranks), x), ranks, s=300 * share, alpha=0.6, color=f"C{x % 10}")
        axes.vlines(x, lo, hi, color="black", linewidth=1)
        median = ranks[np.searchsorted(np.cumsum(share), 0.5)]
        axes.plot(x, median, marker="x", color="black")
    axes.set_xticks(range(len(teams)), [_plain(_short(t, TICK_CHARS)) for t in teams], rotation=90)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # ranks are whole numbers
    top = max([hi for _, hi in intervals] + [len(teams), 1])
    caption = textwrap.fill(STABILITY_CAPTION, int(width * CAPTION_CHARS_PER_INCH))
    axes.set(
        ylabel="rank in the bootstrap resamples",
        title=f"Rank stability\n{caption}",
        xlim=(-0.75, len(teams) - 0.25),
        ylim=(top + 0.5, 0.5),
    )
    axes.title.set_fontsize("small")
    return figure


rank_stability_png = _as_png(rank_stability_figure)
