"""Helpers shared by the lessons' checks: comparisons that fail with a hint, and figure checks.

``compare_to_reference`` is the heart of the checker: it compares a learner's value with the
reference solution's on the same fixed inputs (type, shape, dtype, finiteness, value) and, when
they differ, names the classic mistake whose value the learner's matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


WRONG_SIGN = "has the wrong sign: it is minus the right value"
MISSING_EPSILON = (
    "is NaN or infinite (a NaN from a missing epsilon: log(0) or 0/0); add EPS inside the log "
    "or the division"
)


def compare_to_reference(
    got: object,
    expected: torch.Tensor,
    what: str,
    hint: str,
    *,
    mistakes: Mapping[str, torch.Tensor] | None = None,
    atol: float = 1e-5,
    sign_matters: bool = True,
) -> torch.Tensor:
    """``got`` as a tensor if it matches ``expected`` (the reference's value), else CheckFailed.

    The failure names the mistake: a wrong type, shape or dtype; NaN or infinity where the
    reference is finite (a missing epsilon); minus the right value (a wrong sign, unless
    ``sign_matters`` is False); or any of ``mistakes``, which maps a description of a classic
    mistake ("is a sum, not a mean: a wrong reduction") to the value that mistake gives.
    """
    if isinstance(got, float) and expected.ndim == 0:
        got = torch.tensor(got, dtype=expected.dtype)
    got = expect_tensor(got, what)
    if tuple(got.shape) != tuple(expected.shape):
        extra = (
            ": a wrong reduction? return one number, the mean over the points"
            if expected.ndim == 0
            else ""
        )
        raise CheckFailed(
            f"{what} should have shape {tuple(expected.shape)}, got {tuple(got.shape)}{extra}"
        )
    if got.dtype != expected.dtype:
        raise CheckFailed(f"{what} should be {expected.dtype}, got {got.dtype}: {hint}")
    got = got.detach()
    if not torch.isfinite(got).all() and torch.isfinite(expected).all():
        raise CheckFailed(f"{what} {MISSING_EPSILON}")
    if _close(got, expected, atol):
        return got
    named = dict(mistakes or {})
    if sign_matters and expected.abs().max() > atol:
        named = {WRONG_SIGN: -expected, **named}
    for mistake, value in named.items():
        if _close(got, value.detach().to(got.dtype), atol):
            raise CheckFailed(f"{what} {mistake}")
    diff = (got.float() - expected.float()).abs().max().item()
    raise CheckFailed(f"{what} is off by up to {diff:.3g}: {hint}")


def _close(a: torch.Tensor, b: torch.Tensor, atol: float) -> bool:
    return bool(torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-4, equal_nan=False))


def expect_non_negative_loss(value: float | torch.Tensor, what: str) -> None:
    """A loss is >= 0 (cross-entropy, squared and absolute errors all are)."""
    value = float(value)
    if not value >= -1e-6:
        raise CheckFailed(
            f"{what} is {value:.4g}, but a loss can never be negative: a wrong sign? "
            "(cross-entropy is -[y ln p + (1 - y) ln(1 - p)], with the minus in front)"
        )


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


def expect_steps_like_reference(
    losses: Sequence[float],
    before: dict[str, torch.Tensor],
    model: nn.Module,
    expected_model: nn.Module,
    decreasing_hint: str,
) -> str:
    """The checks after ``len(losses)`` train_steps of ``model``, the reference's ``expected_model``
    given the same steps from the same start (``before``): the loss is >= 0 and falls, the weights
    moved and equal the reference's.
    """
    n_steps = len(losses)
    expect_non_negative_loss(losses[0], "the loss train_step returns")
    if not parameters_changed(before, model):
        raise CheckFailed(
            "the weights did not change: are loss.backward() and optimizer.step() called?"
        )
    expect_decreasing(losses, f"the loss over {n_steps} steps", decreasing_hint)
    for (name, p), q in zip(model.named_parameters(), expected_model.parameters(), strict=True):
        expect_close(
            p,
            q,
            f"the weight {name} after {n_steps} steps",
            "call optimizer.zero_grad() every step",
        )
    return (
        f"the loss falls from {losses[0]:.3f} to {losses[-1]:.3f} in {n_steps} steps, as it should"
    )


def classifier_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is at the label; computed here, not by the learner."""
    return (logits.argmax(dim=1) == labels).float().mean().item()


def binary_accuracy(scores: torch.Tensor, labels: torch.Tensor, threshold: float) -> float:
    """Fraction of points whose score lies on their 0/1 label's side of ``threshold``."""
    return ((scores > threshold).float() == labels).float().mean().item()


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
