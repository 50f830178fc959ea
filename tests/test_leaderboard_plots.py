"""The leaderboard's figures: the score history's time axis and marks, and the ROC figure's title."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import matplotlib.dates as mdates
import pytest

from leaderboard import plots, ranking

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("offsets", "pad"),
    [
        ([timedelta(0)], timedelta(minutes=1)),  # one upload: a two-minute window
        ([timedelta(0), timedelta(minutes=4), timedelta(minutes=5)], timedelta(minutes=1)),
        ([timedelta(0), timedelta(hours=2)], timedelta(minutes=6)),  # 5% of the span
        ([timedelta(0), timedelta(days=10)], timedelta(hours=12)),
    ],
)
def test_the_time_axis_fits_the_submission_times(offsets, pad):
    times = [T0 + offset for offset in offsets]
    assert plots.time_limits(times) == (min(times) - pad, max(times) + pad)
    figure = plots.score_history_figure("alpha", times, [(0.9, 0.85, 0.95)] * len(times))
    low, high = (mdates.num2date(x) for x in figure.axes[0].get_xlim())
    assert abs(low - (min(times) - pad)) < timedelta(seconds=1)
    assert abs(high - (max(times) + pad)) < timedelta(seconds=1)


def test_uploads_minutes_apart_spread_over_the_plot():
    """Five minutes of uploads fill most of the axis instead of a spike in two hours."""
    times = [T0, T0 + timedelta(minutes=5)]
    low, high = plots.time_limits(times)
    assert (max(times) - min(times)) / (high - low) > 0.7


def test_finals_and_the_counted_submission_are_marked():
    times = [T0 + timedelta(minutes=m) for m in (0, 10, 20)]
    public = [(0.80, 0.7, 0.9), (0.90, 0.8, 1.0), (0.85, 0.75, 0.95)]
    figure = plots.score_history_figure("alpha", times, public, finals=[True, False, True],
                                        counted=1, counted_label="shown on the leaderboard")  # fmt: skip
    axes = figure.axes[0]
    lines = {line.get_label(): line for line in axes.get_lines()}
    stars = lines["marked final"]
    assert list(mdates.date2num(stars.get_xdata())) == list(mdates.date2num([times[0], times[2]]))
    assert list(stars.get_ydata()) == [0.80, 0.85]
    ring = lines["shown on the leaderboard"]
    assert list(mdates.date2num(ring.get_xdata())) == list(mdates.date2num([times[1]]))
    assert {text.get_text() for text in axes.get_legend().get_texts()} == {
        "public AUC (95% CI)", "marked final", "shown on the leaderboard"}  # fmt: skip
    plain = plots.score_history_figure("alpha", times, public).axes[0]
    assert {line.get_label() for line in plain.get_lines()} & {"marked final"} == set()


def _board(n_teams: int, n_references: int) -> ranking.Board:
    rows = [ranking.Row(team_id=i, team=f"t{i}", is_reference=False, entries=1,
                        last_submission=T0, submission_id=i, public_auc=0.9, public_lo=0.8,
                        public_hi=1.0, rank=i) for i in range(1, n_teams + 1)]  # fmt: skip
    rows += [ranking.Row(team_id=100 + i, team=f"r{i}", is_reference=True, entries=1,
                         last_submission=T0, submission_id=100 + i, public_auc=0.9,
                         public_lo=0.8, public_hi=1.0) for i in range(n_references)]  # fmt: skip
    return ranking.Board(True, rows)


@pytest.mark.parametrize(
    ("n_teams", "n_references", "top", "caption"),
    [
        (3, 2, 5, "ROC curves of the top 3 teams and 2 reference rows, private split"),
        (7, 1, 5, "ROC curves of the top 5 teams and 1 reference row, private split"),
        (1, 0, 5, "ROC curves of the top team, private split"),
    ],
)
def test_the_roc_caption_says_what_is_drawn(n_teams, n_references, top, caption):
    board = _board(n_teams, n_references)
    assert ranking.roc_caption(board, top) == caption
    assert len(ranking.roc_rows(board, top)) == min(n_teams, top) + n_references


def test_a_long_name_is_shortened_in_the_figures():
    """A 40-letter name would push the ROC legend and the rank axis out of the figure."""
    import warnings

    import numpy as np

    long = "W" * 40
    assert plots._short(long, plots.LEGEND_CHARS) == "W" * 29 + "…"
    assert plots._short("Quarks", plots.LEGEND_CHARS) == "Quarks"
    labels = np.array([0, 1] * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # constrained layout warns when it cannot fit the figure
        plots.roc_curves_png(labels, [(long, labels + 0.1, 1.0), ("Quarks", -labels, 0.0)])
        plots.rank_stability_png([long, "Quarks"], [{1: 9, 2: 1}, {1: 1, 2: 9}], [(1, 2), (1, 2)])


def _drawn(figure):
    """``figure`` laid out and drawn, as the PNG would be; its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def _tick_labels(figure) -> list[str]:
    _drawn(figure)
    return [t.get_text() for t in figure.axes[0].get_xticklabels() if t.get_text()]


@pytest.mark.parametrize(
    ("span", "label"),
    [
        (timedelta(seconds=40), r"\d\d:\d\d(:\d\d)?"),  # within a minute or two: clock times
        (timedelta(minutes=25), r"\d\d:\d\d"),
        (timedelta(hours=9), r"\d\d:\d\d|\d\d [A-Z][a-z]{2}"),  # a new day shows its date
        (timedelta(days=20), r"\d\d [A-Z][a-z]{2}|[A-Z][a-z]{2}"),  # weeks: dates, not "05"
    ],
)
def test_the_time_axis_reads_well_for_minutes_and_for_weeks(span, label):
    """Never a bare number ("04:38 15 30 45 04:39" was seconds that read like minutes)."""
    times = [T0, T0 + span / 3, T0 + span]
    labels = _tick_labels(plots.score_history_figure("alpha", times, [(0.9, 0.8, 1.0)] * 3))
    assert len(labels) >= 2, labels
    assert all(re.fullmatch(label, text) for text in labels), labels


def test_a_queued_submission_shows_as_queued_in_the_plot():
    texts = lambda figure: [t.get_text() for t in figure.axes[0].texts]  # noqa: E731
    assert texts(plots.score_history_figure("alpha", [], [])) == ["no submissions yet"]
    queued = plots.score_history_figure("alpha", [], [], pending=1)
    assert texts(queued) == ["1 submission queued or running:\nits score shows here once scored"]
    scored = plots.score_history_figure("alpha", [T0], [(0.9, 0.8, 1.0)], pending=2)
    assert texts(scored) == [
        "2 more submissions queued or running:\ntheir scores show here once scored"
    ]
    assert texts(plots.score_history_figure("alpha", [T0], [(0.9, 0.8, 1.0)])) == []


@pytest.mark.parametrize("n_teams", [2, 3, 8, 20])
def test_the_blob_plot_has_whole_ranks_and_nothing_cut_off(n_teams):
    """Integer rank ticks; the caption and every team's label inside the figure, clear of its
    edges (the caption was cut to "×: mediar", the last label touched the edge)."""
    teams = [f"team number {i} with a long name" for i in range(n_teams)]
    counts = [{max(1, i): 7, i + 1: 2, min(n_teams, i + 2): 1} for i in range(n_teams)]
    intervals = [(max(1, i), min(n_teams, i + 2)) for i in range(n_teams)]
    figure = plots.rank_stability_figure(teams, counts, intervals)
    renderer = _drawn(figure)
    axes = figure.axes[0]
    low, high = sorted(axes.get_ylim())
    ticks = [t for t in axes.get_yticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    width, height = figure.bbox.width, figure.bbox.height
    margin = 3  # pixels
    shown = [label for label in axes.get_yticklabels() if low <= label.get_position()[1] <= high]
    for artist in [axes.title, *axes.get_xticklabels(), *shown]:
        box = artist.get_window_extent(renderer)
        assert box.x0 >= margin and box.x1 <= width - margin, (artist.get_text(), box, width)
        assert box.y0 >= margin and box.y1 <= height - margin, (artist.get_text(), box, height)
    assert axes.title.get_text().replace("\n", " ").endswith("×: median")
    frame = axes.get_window_extent(renderer)
    for label in axes.get_xticklabels():  # the first and last teams clear of the frame's sides
        box = label.get_window_extent(renderer)
        assert frame.x0 + 10 <= box.x0 and box.x1 <= frame.x1 - 10, (label.get_text(), box, frame)
