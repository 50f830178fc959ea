"""Helpers shared by the lessons' checks: comparisons that fail with a hint, and figure checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from exercises.checker import CheckFailed

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_PNG_BYTES = 5_000  # an empty 100x100 canvas is ~1 kB; a real figure is tens of kB


def expect_tensor(value: object, what: str, shape: Sequence[int] | None = None) -> torch.Tensor:
    """``value`` if it is a float tensor (of ``shape``), else CheckFailed saying what it is."""
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what} should be a torch tensor, got {type(value).__name__}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckFailed(f"{what} should have shape {tuple(shape)}, got {tuple(value.shape)}")
    return value


def expect_close(
    got: torch.Tensor, expected: torch.Tensor, what: str, hint: str, atol: float = 1e-5
) -> None:
    """CheckFailed with the largest difference and ``hint`` unless ``got`` matches ``expected``."""
    got = expect_tensor(got, what, expected.shape).detach().float()
    diff = (got - expected.float()).abs().max().item()
    if not diff <= atol:  # also catches NaN
        raise CheckFailed(f"{what} is off by up to {diff:.3g}: {hint}")


def expect_at_least(value: float, target: float, what: str, hint: str = "") -> str:
    """``"what 98.4% >= 98% target"`` or CheckFailed ``"what 93.1% is below the 95% target"``."""
    if not value >= target:
        raise CheckFailed(
            f"{what} {value:.1%} is below the {target:.0%} target" + (f": {hint}" if hint else "")
        )
    return f"{what} {value:.1%} >= {target:.0%} target"


def expect_decreasing(history: Sequence[float], what: str, hint: str) -> None:
    """CheckFailed unless the last loss is clearly below the first (and finite)."""
    history = [float(v) for v in history]
    if len(history) < 2 or not history[-1] < 0.9 * history[0]:
        shown = f"{history[0]:.4g} -> {history[-1]:.4g}" if history else "no values"
        raise CheckFailed(f"{what} does not decrease ({shown}): {hint}")


def classifier_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is at the label; computed here, not by the learner."""
    return (logits.argmax(dim=1) == labels).float().mean().item()


def parameters_changed(before: dict[str, torch.Tensor], model: nn.Module) -> bool:
    return any(not torch.equal(before[name], p.detach()) for name, p in model.named_parameters())


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def expect_module(value: object, what: str) -> nn.Module:
    if not isinstance(value, nn.Module):
        raise CheckFailed(f"{what} should be a torch nn.Module, got {type(value).__name__}")
    return value


def expect_pngs(paths: Iterable[str | Path] | None, names: Sequence[str]) -> str:
    """Every name in ``names`` among ``paths``, each a real PNG figure of non-trivial size."""
    if paths is None:
        raise CheckFailed("write_figures returned nothing: it should return the paths it wrote")
    by_name = {Path(p).name: Path(p) for p in paths}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise CheckFailed(f"figures not written: {', '.join(missing)}")
    for name in names:
        path = by_name[name]
        if not path.is_file():
            raise CheckFailed(f"{path} was returned but does not exist")
        head = path.read_bytes()[:8]
        if head != PNG_SIGNATURE or path.stat().st_size < MIN_PNG_BYTES:
            raise CheckFailed(f"{path} is not a PNG figure ({path.stat().st_size} bytes)")
    folder = Path(next(iter(by_name.values()))).parent
    return f"wrote {', '.join(names)} to {folder}"
