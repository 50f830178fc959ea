"""The lessons' data: small, deterministic for a seed, and never downloaded.

Lesson 1 uses Gaussian blobs, lesson 2 two interleaved moons, lessons 3 to 5 scikit-learn's bundled
8x8 digits (or real MNIST from IDX files the learner already has), lesson 5 also toy detector pulses.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from sklearn.datasets import load_digits as _sklearn_digits
from sklearn.datasets import make_moons as _sklearn_moons
from sklearn.model_selection import train_test_split

from exercises.idx import IDXError, read_idx


class Split(NamedTuple):
    """Features and labels of the training, validation and test parts (torch tensors)."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor


def make_blobs(n: int = 100, *, seed: int = 0, margin: float = 0.5) -> tuple[torch.Tensor, ...]:
    """Two Gaussian blobs in 2D, linearly separable: X float32 (n, 2), y float32 (n,) in {0, 1}.

    Points closer than ``margin`` to the line halfway between the centres are redrawn, so a
    straight line always separates the classes, whatever the seed.
    """
    rng = np.random.default_rng(seed)
    centres = np.array([[-1.0, 1.5], [1.5, -0.5]])
    normal = (centres[1] - centres[0]) / np.linalg.norm(centres[1] - centres[0])
    midpoint = centres.mean(axis=0)
    y = np.arange(n) % 2
    X = np.empty((n, 2))
    for i, label in enumerate(y):
        while True:
            point = centres[label] + rng.normal(scale=0.8, size=2)
            side = (point - midpoint) @ normal  # > 0 on the side of class 1
            if (side if label else -side) > margin:
                X[i] = point
                break
    order = rng.permutation(n)
    return torch.tensor(X[order], dtype=torch.float32), torch.tensor(y[order], dtype=torch.float32)


def make_moons(n: int = 600, *, seed: int = 0, noise: float = 0.2) -> Split:
    """Two interleaved half-moons in 2D (a non-linear boundary), split 60/20/20.

    X float32 (m, 2); y float32 (m,) in {0, 1}.
    """
    X, y = _sklearn_moons(n_samples=n, noise=noise, random_state=seed)
    X = (X - np.array([0.5, 0.25])) / np.array([0.87, 0.5])  # roughly centred and unit-scaled
    return _split(X.astype(np.float32), y.astype(np.float32), seed=seed, val=0.2, test=0.2)


def load_digits(*, seed: int = 0, mnist_dir: str | Path | None = None) -> Split:
    """Handwritten digits as images in [0, 1]: X float32 (m, 1, H, W), y int64 (m,).

    By default scikit-learn's bundled 8x8 digits (1797 images, split 60/15/25). With ``mnist_dir``
    the MNIST IDX files found there (see ``load_mnist``), 28x28.
    """
    if mnist_dir is not None:
        return load_mnist(mnist_dir, seed=seed)
    digits = _sklearn_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    return _split(X, digits.target.astype(np.int64), seed=seed, val=0.15, test=0.25)


def load_mnist(directory: str | Path, *, seed: int = 0) -> Split:
    """MNIST from its four IDX files in ``directory`` (``train-images-idx3-ubyte[.gz]`` etc.).

    A sixth of the training file, drawn with ``seed``, is kept for validation (10000 of 60000).
    """
    directory = Path(directory)
    images = _find_idx(directory, "train", "images")
    labels = _find_idx(directory, "train", "labels")
    X = read_idx(images).astype(np.float32)[:, None] / 255.0
    y = read_idx(labels).astype(np.int64)
    X_test = read_idx(_find_idx(directory, "t10k", "images")).astype(np.float32)[:, None] / 255.0
    y_test = read_idx(_find_idx(directory, "t10k", "labels")).astype(np.int64)
    for name, a, b in (("training", X, y), ("test", X_test, y_test)):
        if len(a) != len(b):
            raise IDXError(f"{directory}: {len(a)} {name} images but {len(b)} labels")
    order = np.random.default_rng(seed).permutation(len(X))
    val, train = order[: len(X) // 6], order[len(X) // 6 :]
    return Split(
        *(
            torch.from_numpy(np.ascontiguousarray(a))
            for a in (X[train], y[train], X[val], y[val], X_test, y_test)
        )
    )


def make_pulses(n: int = 1200, *, length: int = 48, seed: int = 0) -> Split:
    """Toy detector pulses, fast (label 1) or slow (label 0) decay, with noise: X (m, length, 1).

    The labels follow the challenge's convention: 1 is a carrier event, whose pulse is fast, and 0
    an absorber event, whose pulse is slow. Amplitude and onset vary, so the decay time is the
    only thing that tells the classes apart.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(length)[None, :]
    onset = rng.integers(4, length // 3, size=(n, 1))
    amplitude = rng.uniform(0.5, 2.0, size=(n, 1))
    tau = np.where(y[:, None] == 1, rng.uniform(3.0, 6.0, (n, 1)), rng.uniform(9.0, 14.0, (n, 1)))
    dt = np.clip(t - onset, 0, None)
    pulse = amplitude * (1 - np.exp(-dt / 1.5)) * np.exp(-dt / tau)
    X = pulse + rng.normal(scale=0.1, size=(n, length))
    return _split(
        X.astype(np.float32)[:, :, None], y.astype(np.int64), seed=seed, val=0.2, test=0.2
    )


def _split(X: np.ndarray, y: np.ndarray, *, seed: int, val: float, test: float) -> Split:
    """Stratified train/validation/test split with fractions ``val`` and ``test`` of the whole."""
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=test, random_state=seed, stratify=y
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val / (1 - test), random_state=seed, stratify=y_rest
    )
    return Split(
        *(
            torch.from_numpy(np.ascontiguousarray(a))
            for a in (X_train, y_train, X_val, y_val, X_test, y_test)
        )
    )


def _find_idx(directory: Path, split: str, kind: str) -> Path:
    """The one file in ``directory`` named like ``{split}-{kind}-idx?-ubyte`` (``.gz`` optional)."""
    matches = sorted(p for p in directory.glob(f"{split}-{kind}*") if "idx" in p.name)
    if not matches:
        present = (
            ", ".join(sorted(p.name for p in directory.iterdir()))
            if directory.is_dir()
            else "the directory does not exist"
        )
        raise IDXError(
            f"{directory}: no {split}-{kind}-idx*-ubyte[.gz] file (found: {present or 'nothing'})"
        )
    return matches[0]
