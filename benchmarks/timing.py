"""Timing helper shared by the benchmarks: best of several runs, which is least disturbed by noise."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], *, repeat: int = 5) -> float:
    """Smallest wall time of ``repeat`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row(
    benchmark: str,
    measured: float,
    reference: float,
    *,
    unit: str = "s",
    reference_name: str,
    target: str = "",
) -> dict:
    """One benchmark row: measured against a reference timed in the same run (ratio = measured / reference)."""
    return {
        "benchmark": benchmark,
        "measured": f"{measured:.4g} {unit}",
        "reference": f"{reference_name}: {reference:.4g} {unit}",
        "ratio": measured / reference,
        "target": target,
    }


def print_rows(rows: list[dict]) -> None:
    """Print rows as a markdown table."""
    print("| benchmark | measured | reference | ratio | target |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['benchmark']} | {r['measured']} | {r['reference']} | {r['ratio']:.3f} | {r['target']} |"
        )
