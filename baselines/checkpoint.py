"""A trained baseline and its checkpoint file: model name, hyperparameters, preprocessing state,
weights (or fitted trees), training history; `TrainedModel.predict` scores raw records."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import numpy as np
import torch

from baselines.models import get_spec
from baselines.preprocessing import PreprocessingConfig, Preprocessor

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a baselines checkpoint; the message names the file."""


@dataclass
class TrainedModel:
    name: str
    hparams: object  # the model module's Hparams dataclass
    model: object  # a torch Classifier, or a bdt / matched_filter Model
    preprocessor: Preprocessor | None = None  # torch models only; bdt keeps its own
    metadata: dict = field(default_factory=dict)  # of the training file
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    train_seconds: float = 0.0  # wall clock
    train_cpu_seconds: float = 0.0  # CPU time of all threads: a bound on an idle machine's wall
    seed: int = 0

    @property
    def n_parameters(self) -> int:
        if isinstance(self.model, torch.nn.Module):
            return sum(p.numel() for p in self.model.parameters())
        return self.model.n_parameters

    def predict(self, X: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
        """Carrier-likeness float64 (n,) of records X (n, L) in volts; higher = label 1."""
        if not isinstance(self.model, torch.nn.Module):
            return self.model.score(X)
        return score_torch(self.model, self.preprocessor.transform(X), batch_size=batch_size)

    def save(self, path: str | os.PathLike) -> Path:
        spec = get_spec(self.name)
        state = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "hparams": _plain(asdict(self.hparams)),
            "metadata": _plain(self.metadata),
            "history": _plain(self.history),
            "train_seconds": float(self.train_seconds),
            "train_cpu_seconds": float(self.train_cpu_seconds),
            "seed": int(self.seed),
        }
        if spec.is_neural:
            state["preprocessing"] = self.preprocessor.state_dict()
            state["state_dict"] = {k: v.cpu() for k, v in self.model.state_dict().items()}
        else:
            state["fitted"] = self.model.state()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str = "cpu") -> TrainedModel:
        state = _read(Path(path))
        spec = get_spec(state["model"])
        hp = hparams_from_dict(spec.module.Hparams, state["hparams"])
        trained = cls(
            name=state["model"],
            hparams=hp,
            model=None,
            metadata=state["metadata"],
            history=state["history"],
            train_seconds=state["train_seconds"],
            train_cpu_seconds=state["train_cpu_seconds"],
            seed=state["seed"],
        )
        if spec.is_neural:
            trained.preprocessor = Preprocessor.from_state(state["preprocessing"])
            net = spec.module.Net(trained.preprocessor.n_features, hp)
            net.load_state_dict(state["state_dict"])
            trained.model = net.to(device).eval()
        else:
            trained.model = spec.module.Model.from_state(hp, state["fitted"])
        return trained


@torch.no_grad()
def score_torch(net: torch.nn.Module, Z: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """Scores float64 (n,) of preprocessed records Z (n, L') in eval mode."""
    net.eval()
    device = next(net.parameters()).device
    parts = [
        net.score(torch.from_numpy(Z[i : i + batch_size]).to(device)).double().cpu().numpy()
        for i in range(0, len(Z), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def hparams_from_dict(cls: type, values: dict) -> object:
    """Rebuild a (nested) hyperparameter dataclass from `asdict` output; tuples stay tuples."""
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        if f.name == "preprocessing":
            value = PreprocessingConfig(**value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _read(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file (train one with `baselines train`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a foreign or corrupt file
        raise CheckpointError(
            f"{path}: not a baselines checkpoint ({exc.__class__.__name__})"
        ) from exc
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: not a baselines checkpoint of format version {FORMAT_VERSION}"
        )
    return state


def _plain(value):
    """Numpy scalars and arrays -> Python numbers and lists, so weights_only loading accepts them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if is_dataclass(value):
        return _plain(asdict(value))
    return value
