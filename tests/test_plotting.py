"""The frame of every figure of ROC curves (``challenge.plotting.roc_frame``)."""

from __future__ import annotations

from matplotlib.figure import Figure

from challenge.plotting import roc_frame


def test_roc_frame_draws_the_diagonal_and_labels_the_axes():
    ax = Figure().subplots()
    roc_frame(ax, title="ROC curves")
    (chance,) = ax.get_lines()
    assert chance.get_xydata().tolist() == [[0, 0], [1, 1]]
    assert chance.get_label() == "chance (AUC 0.5)"
    assert ax.get_xlabel() == "false positive rate (absorbers called carriers)"
    assert ax.get_ylabel() == "true positive rate (carriers found)"
    assert ax.get_title() == "ROC curves"
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1.01)
