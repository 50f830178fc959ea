"""The lessons' figures, written as PNG files (matplotlib's object API: no pyplot, no display)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from challenge.plotting import roc_frame

LEGEND_FONTSIZE = 8
_CLASS_COLOURS = ("#d6604d", "#4393c3")  # label 0 red, label 1 blue, as on the lecture's slides


def plot_decision_map(
    predict: Callable[[torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    path: str | Path,
    *,
    title: str,
    resolution: int = 200,
) -> Path:
    """The probability of class 1 over the plane, its 0.5 contour, and the points (X (n, 2)).

    ``predict`` maps a float32 tensor (m, 2) to probabilities (m,).
    """
    X, y = np.asarray(X), np.asarray(y)
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    grid = torch.tensor(np.column_stack([gx.ravel(), gy.ravel()]), dtype=torch.float32)
    with torch.no_grad():
        prob = np.asarray(predict(grid), dtype=float).reshape(gx.shape)
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    mesh = ax.contourf(gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.6)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1.5)
    for label, colour in enumerate(_CLASS_COLOURS):
        pts = X[y == label]
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=14,
            c=colour,
            edgecolors="k",
            linewidths=0.4,
            label=f"class {label}",
        )
    fig.colorbar(mesh, ax=ax, label="p(class 1)")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    return _save_with_legend(ax, path, loc="upper right")


def plot_loss_curves(
    histories: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str,
    xlabel: str = "epoch",
    ylabel: str = "loss",
    first_epoch: int = 0,
) -> Path:
    """One curve per named run, entry i at epoch ``first_epoch + i`` (0: before training).

    The scale is logarithmic, so that slow and fast runs both show.
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, losses in histories.items():
        ax.plot(first_epoch + np.arange(len(losses)), losses, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, yscale="log")
    ax.grid(alpha=0.3)
    return _save_with_legend(ax, path)


def plot_confusion_matrix(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    path: str | Path,
    *,
    n_classes: int = 10,
    title: str = "Confusion matrix (test set)",
) -> Path:
    """Counts of (true, predicted) label pairs, with the counts written in the cells."""
    counts = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues")
    for (i, j), n in np.ndenumerate(counts):
        if n:
            ax.text(
                j,
                i,
                str(n),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if n > counts.max() / 2 else "black",
            )
    ticks = np.arange(n_classes)
    ax.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title=title)
    return _save(fig, path)


def plot_image_grid(
    images: torch.Tensor,
    path: str | Path,
    *,
    ncols: int,
    title: str,
    titles: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
) -> Path:
    """Greyscale images (n, 1, H, W) or (n, H, W) in [0, 1], in rows of ``ncols``.

    The images are tiled into one mosaic (one axes, quick to draw even for a hundred images).
    """
    images = np.asarray(images, dtype=float).reshape(len(images), *np.shape(images)[-2:])
    n, h, w = images.shape
    nrows = max(1, -(-n // ncols))
    pad = max(1, h // 8)
    mosaic = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), np.nan)
    for k, image in enumerate(images):
        top, left = pad + (k // ncols) * (h + pad), pad + (k % ncols) * (w + pad)
        mosaic[top : top + h, left : left + w] = image
    fig = Figure(figsize=(0.9 * ncols + 1.2, 0.9 * nrows * (1.25 if titles else 1) + 0.8))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["gray_r"].with_extremes(bad="#dddddd")
    ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    for k, text in enumerate(titles or ()):
        x, y = pad + (k % ncols) * (w + pad) + w / 2, pad + (k // ncols) * (h + pad) - 0.5
        ax.text(x, y, text, ha="center", va="bottom", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(len(row_labels or ()))])
    ax.set_yticklabels(row_labels or [], fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, pad=12 if titles else 6)
    return _save(fig, path)


def plot_heatmaps(
    images: torch.Tensor, maps: torch.Tensor, path: str | Path, *, titles: Sequence[str], title: str
) -> Path:
    """Each image (n, 1, H, W) above its heatmap (n, H, W), e.g. a saliency map."""
    images = np.asarray(images).reshape(len(images), *np.shape(images)[-2:])
    maps = np.asarray(maps).reshape(images.shape)
    fig = Figure(figsize=(1.3 * len(images) + 0.6, 3.2))
    axes = fig.subplots(2, len(images), squeeze=False)
    for k in range(len(images)):
        axes[0, k].imshow(images[k], cmap="gray_r", vmin=0, vmax=1)
        axes[0, k].set_title(titles[k], fontsize=7)
        axes[1, k].imshow(maps[k], cmap="hot")
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input", fontsize=8)
    axes[1, 0].set_ylabel("saliency", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_histograms(
    samples: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    bins: int = 20,
) -> Path:
    """Normalised histograms of a few named samples on common bins, e.g. uncertainties."""
    values = [np.asarray(v, dtype=float) for v in samples.values()]
    edges = np.histogram_bin_edges(np.concatenate(values), bins=bins)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, v in zip(samples, values, strict=True):
        ax.hist(
            v, bins=edges, density=True, histtype="step", linewidth=1.5, label=f"{name} ({len(v)})"
        )
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    return _save_with_legend(ax, path)


def plot_sequences(
    X: torch.Tensor,
    y: torch.Tensor,
    path: str | Path,
    *,
    title: str,
    class_names: Sequence[str],
    n: int = 8,
) -> Path:
    """The first ``n`` sequences of each class (X (m, length, 1)), one panel per class."""
    X, y = np.asarray(X)[..., 0], np.asarray(y)
    fig = Figure(figsize=(8, 3.5))
    axes = fig.subplots(1, len(class_names), sharey=True)
    for label, (ax, name) in enumerate(zip(axes, class_names, strict=True)):
        for trace in X[y == label][:n]:
            ax.plot(trace, color=_CLASS_COLOURS[label % 2], alpha=0.6, linewidth=1)
        ax.set(title=name, xlabel="time step")
    axes[0].set_ylabel("amplitude")
    fig.suptitle(title)
    return _save(fig, path)


def plot_roc_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], str]],
    path: str | Path,
    *,
    title: str,
) -> Path:
    """ROC curves: for each name, (false positive rates, true positive rates, a label note)."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for name, (fpr, tpr, note) in curves.items():
        ax.plot(fpr, tpr, drawstyle="default", linewidth=1.5, label=f"{name} ({note})")
    roc_frame(ax, title=title)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    return _save_with_legend(ax, path, loc="lower right")


def _save_with_legend(ax: Axes, path: str | Path, loc: str = "best") -> Path:
    """Adds the legend of the labelled lines to ``ax`` and saves its figure."""
    ax.legend(loc=loc, fontsize=LEGEND_FONTSIZE)
    return _save(ax.figure, path)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    return path
