"""Timing helper shared by the benchmarks: best of several runs, which is least disturbed by noise."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(
    fn: Callable[[], object], *, repeat: int = 5, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Smallest time of ``repeat`` calls of ``fn``, in seconds: wall time, or the process's CPU
    time with ``clock=time.process_time`` (what a quiet core would take, on a shared machine)."""
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def best_times_interleaved(fns: dict[str, Callable[[], object]], *, repeat: int = 5) -> dict:
    """Smallest wall time of ``repeat`` calls of each function, called in turn (a, b, a, b, ...)
    so that a machine whose speed drifts (a shared host) slows each of them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def row(
    benchmark: str,
    measured: float,
    reference: float,
    *,
    unit: str = "s",
    reference_name: str,
    target: str = "",
    passed: bool | None = None,
    note: str = "",
) -> dict:
    """One benchmark row: measured against a reference timed in the same run (ratio = measured / reference).
    ``passed``: whether the target holds (PASS or FAIL in the table), where the row has one;
    ``note``: more figures of the measurement, printed after it."""
    return {
        "benchmark": benchmark,
        "measured": f"{measured:.4g} {unit}" + (f" ({note})" if note else ""),
        "reference": f"{reference_name}: {reference:.4g} {unit}",
        "ratio": measured / reference,
        "target": target,
        "result": {None: "", True: "PASS", False: "FAIL"}[passed],
    }


def print_rows(rows: list[dict]) -> None:
    """Print rows as a markdown table."""
    print("| benchmark | measured | reference | ratio | target | result |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['benchmark']} | {r['measured']} | {r['reference']} | {r['ratio']:.3f} "
            f"| {r['target']} | {r.get('result', '')} |"
        )
