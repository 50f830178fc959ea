"""How small an AUC difference a test set can resolve, and how many test events a difference needs.

The test is the paired DeLong test at 95% (two-sided) of two submissions with the same AUC ``A``
on the same events. The variance of one AUC for given class counts is Hanley & McNeil's,
Radiology 143 (1982) 29, eq. 2 (exact for exponentially distributed scores); the variance of
the difference of two correlated AUCs is 2 V (1 - r), r being the correlation of the two AUC
estimates, as in DeLong et al., Biometrics 44 (1988) 837. A difference is resolved when it is
at least z(0.975) times its standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri  # the normal's quantile function (scipy.stats's norm.ppf)

# Correlation between the AUC estimates of two of the project's own baselines on the same test
# events, from DeLong's covariance, measured with `python -m benchmarks.bench_planning` (it derives
# it from challenge.metrics: roc_auc_ci's variances and delong_test's z). `mlp` and `cnn` (trained
# by `baselines`, seed 0) on the 2,000 test events of the demo preset (seed 0) gave 0.696 with
# generator 1.0 (AUCs 0.9741 and 0.9764) and 0.792 with generator 1.1 (0.9743 and 0.9771; each
# against the physics reference: 0.774 and 0.796). The lower value is kept: a lower correlation
# means a larger resolvable difference, so the planning errs on the side of more test events.
BASELINE_AUC_CORRELATION = 0.70
CONFIDENCE = 0.95
RESOLVE_TARGET = 0.005  # the private split should resolve this AUC difference (issue 10)
DEFAULT_AUC = 0.98  # for `challenge plan` and for records without a physics reference


@dataclass(frozen=True)
class SplitResolution:
    """The smallest AUC difference one split resolves, with what it was computed from."""

    split: str
    n_carrier: int
    n_absorber: int
    auc: float
    delta: float


def hanley_mcneil_variance(auc: float, n_pos: int, n_neg: int) -> float:
    """Variance of the ROC AUC estimate for ``n_pos`` positives and ``n_neg`` negatives."""
    _check(auc, n_pos, n_neg)
    q1, q2 = auc / (2.0 - auc), 2.0 * auc**2 / (1.0 + auc)
    a2 = auc**2
    return (auc * (1 - auc) + (n_pos - 1) * (q1 - a2) + (n_neg - 1) * (q2 - a2)) / (n_pos * n_neg)


def resolvable_difference(
    auc: float,
    n_pos: int,
    n_neg: int,
    *,
    correlation: float = BASELINE_AUC_CORRELATION,
    confidence: float = CONFIDENCE,
) -> float:
    """The smallest AUC difference that the paired DeLong test finds significant."""
    if not -1.0 <= correlation < 1.0:
        raise ValueError(f"correlation must lie in [-1, 1); got {correlation}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    z = ndtri(0.5 + confidence / 2.0)
    return z * math.sqrt(2.0 * hanley_mcneil_variance(auc, n_pos, n_neg) * (1.0 - correlation))


def split_counts(
    n_test: int, *, public_fraction: float, carrier_fraction: float
) -> dict[str, tuple[int, int]]:
    """Expected (carrier, absorber) counts of the public and private split of ``n_test`` events.

    The same rounding as the answer key's split: round(public_fraction x count) of each class.
    """
    carriers = round(carrier_fraction * n_test)
    absorbers = n_test - carriers
    public = (round(public_fraction * carriers), round(public_fraction * absorbers))
    return {"public": public, "private": (carriers - public[0], absorbers - public[1])}


def events_needed(
    auc: float,
    delta: float,
    *,
    public_fraction: float,
    carrier_fraction: float = 0.5,
    correlation: float = BASELINE_AUC_CORRELATION,
    confidence: float = CONFIDENCE,
) -> int:
    """The fewest test events whose private split resolves ``delta`` at ``auc``."""
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must lie strictly between 0 and 1; got {delta}")
    if not 0.0 <= public_fraction < 1.0 or not 0.0 < carrier_fraction < 1.0:
        raise ValueError(
            f"public_fraction must lie in [0, 1) and carrier_fraction in (0, 1); got "
            f"{public_fraction} and {carrier_fraction}"
        )

    def resolves(n: int) -> bool:
        pos, neg = split_counts(n, public_fraction=public_fraction,
                                carrier_fraction=carrier_fraction)["private"]  # fmt: skip
        if min(pos, neg) < 2:
            return False
        found = resolvable_difference(auc, pos, neg, correlation=correlation, confidence=confidence)
        return found <= delta

    lo, hi = 1, 2
    while not resolves(hi):  # the resolvable difference falls as 1 / sqrt(n)
        lo, hi = hi, hi * 2
        if hi > 10**12:
            raise ValueError(f"no test set below 10^12 events resolves {delta} at AUC {auc}")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if resolves(mid) else (mid, hi)
    return hi


def resolution_by_split(
    label: np.ndarray,
    split: np.ndarray,
    *,
    auc: float,
    correlation: float = BASELINE_AUC_CORRELATION,
) -> list[SplitResolution]:
    """The smallest resolvable AUC difference of the public and private split of an answer key."""
    out = []
    for name in ("public", "private"):
        members = label[split == name]
        pos = int(np.sum(members == 1))
        neg = len(members) - pos
        delta = (
            resolvable_difference(auc, pos, neg, correlation=correlation)
            if min(pos, neg) > 0
            else float("nan")
        )
        out.append(SplitResolution(name, pos, neg, auc, delta))
    return out


def _check(auc: float, n_pos: int, n_neg: int) -> None:
    if not 0.5 <= auc < 1.0:
        raise ValueError(f"auc must lie in [0.5, 1); got {auc}")
    if n_pos < 1 or n_neg < 1:
        raise ValueError(f"need events of both classes; got {n_pos} and {n_neg}")
