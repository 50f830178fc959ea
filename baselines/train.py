"""The one training loop: Adam, a validation split carved from the training set, early stopping
on the validation AUC, a tqdm bar with loss and validation AUC; deterministic for a seed."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from baselines.checkpoint import TrainedModel, score_torch
from baselines.models import get_spec
from baselines.models.base import Classifier, TorchHparams
from baselines.preprocessing import Preprocessor
from challenge.metrics import MIN_CLASS_SIZE, roc_auc_score

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Settings of one training run, shared by all models; overridable from the command line."""

    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.2  # of the training records, stratified by label
    epochs: int | None = None  # overrides the model's own maximum (for bdt: boosting rounds)
    dry_run: bool = False  # one epoch of two batches: checks the whole pipeline in seconds
    progress: bool = True

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs!r}")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA GPU; use cpu or auto")
    return torch.device(device)


class TrainingDataError(ValueError):
    """Training records too few to carve a validation split from; the message says how many."""


def validation_split(y: np.ndarray, *, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, validation) indices, stratified by label, the same for every model.

    Records of label -1 (unlabelled, from `challenge import`) are in neither: every baseline
    trains, and fits its preprocessing, on the labelled records only.
    Raises TrainingDataError unless the validation split holds MIN_CLASS_SIZE records of each
    label (its AUC interval needs them) and the rest at least one of each to train on.
    """
    rng = np.random.default_rng(seed)
    val = []
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(y == label))
        n_val = int(round(fraction * len(members)))
        if n_val < MIN_CLASS_SIZE or n_val == len(members):
            raise TrainingDataError(
                f"{len(members)} training records of label {label}: the validation split takes "
                f"{fraction:.0%} of each label and needs at least {MIN_CLASS_SIZE} of each, with "
                "some left to train on; use more training records"
            )
        val.append(members[:n_val])
    val_idx = np.sort(np.concatenate(val))
    return np.setdiff1d(np.flatnonzero(np.isin(y, (0, 1))), val_idx), val_idx


def train(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    metadata: dict,
    *,
    config: TrainConfig | None = None,
    hparams: object | None = None,
) -> tuple[TrainedModel, np.ndarray]:
    """Train model `name` on records X (n, L) volts, labels y (n,); returns it and the
    validation indices into X it was never fitted on."""
    config = config or TrainConfig()
    spec = get_spec(name)
    hp = hparams or spec.module.Hparams()
    train_idx, val_idx = validation_split(y, fraction=config.val_fraction, seed=config.seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    if spec.is_neural:
        trained = _train_torch(name, hp, X, y, train_idx, val_idx, metadata, config)
    else:
        trained = _train_other(name, hp, X, y, train_idx, metadata, config)
    trained.train_seconds = time.perf_counter() - start
    trained.train_cpu_seconds = time.process_time() - cpu_start
    return trained, val_idx


def _train_other(name, hp, X, y, train_idx, metadata, config) -> TrainedModel:
    if config.dry_run and hasattr(hp, "max_iter"):
        hp = replace(hp, max_iter=2)
    elif config.epochs is not None and hasattr(hp, "max_iter"):
        hp = replace(hp, max_iter=config.epochs)
    model = (
        get_spec(name).module.Model(hp).fit(X[train_idx], y[train_idx], metadata, seed=config.seed)
    )
    return TrainedModel(name=name, hparams=hp, model=model, metadata=metadata, seed=config.seed)


def _train_torch(name, hp: TorchHparams, X, y, train_idx, val_idx, metadata, config):
    if config.epochs is not None:
        hp = replace(hp, epochs=config.epochs)
    if config.dry_run:
        hp = replace(hp, epochs=1)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    pre = Preprocessor(hp.preprocessing).fit(X[train_idx])
    net = get_spec(name).module.Net(pre.n_features, hp).to(device)
    history = fit(
        net,
        hp,
        pre.transform(X[train_idx]),
        y[train_idx],
        pre.transform(X[val_idx]),
        y[val_idx],
        seed=config.seed,
        max_batches=2 if config.dry_run else None,
        progress=config.progress,
        desc=name,
    )
    return TrainedModel(
        name=name,
        hparams=hp,
        model=net.eval(),
        preprocessor=pre,
        metadata=metadata,
        history=history,
        seed=config.seed,
    )


def fit(
    net: Classifier,
    hp: TorchHparams,
    Z_train: np.ndarray,
    y_train: np.ndarray,
    Z_val: np.ndarray,
    y_val: np.ndarray,
    *,
    seed: int = 0,
    max_batches: int | None = None,
    progress: bool = True,
    desc: str = "train",
) -> list[dict]:
    """Train `net` in place on preprocessed records; keeps the weights of the epoch with the
    best validation AUC. Returns the history: one dict per epoch."""
    device = next(net.parameters()).device
    Xt, yt = torch.from_numpy(Z_train).to(device), torch.from_numpy(y_train).float().to(device)
    Xv, yv = torch.from_numpy(Z_val).to(device), torch.from_numpy(y_val).float().to(device)
    shuffle = torch.Generator().manual_seed(seed)
    optimizers = net.configure_optimizers(hp)
    history, best_auc, best_state, stale = [], -np.inf, None, 0
    bar = tqdm(range(hp.epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        net.train()
        batches = torch.randperm(len(Xt), generator=shuffle).split(hp.batch_size)[:max_batches]
        losses = [net.training_step(Xt[b], yt[b], optimizers) for b in batches]
        val_auc, val_loss = evaluate(net, Xv, yv)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                "val_loss": val_loss,
                "val_auc": val_auc,
            }
        )
        bar.set_postfix(loss=f"{history[-1]['train_loss']:.4f}", val_auc=f"{val_auc:.4f}")
        if val_auc > best_auc:
            best_auc, best_state, stale = val_auc, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= hp.patience:
                break
    net.load_state_dict(best_state)
    return history


@torch.no_grad()
def evaluate(net: Classifier, Xv: torch.Tensor, yv: torch.Tensor) -> tuple[float, float]:
    """Validation AUC and loss of `net` in eval mode."""
    scores = score_torch(net, Xv.cpu().numpy())
    if not np.all(np.isfinite(scores)):
        raise FloatingPointError("the network produced non-finite scores: training diverged")
    val_loss = float(net.loss(Xv, yv))
    return roc_auc_score(yv.cpu().numpy(), scores), val_loss
