"""How many CPU threads a training run takes on a machine it may share: the physical cores less
what the other processes use now, and one limit for torch and for numpy's BLAS together.

Threads beyond the free cores do not just wait: torch's threads spin at every barrier while one
of them is descheduled, so on two busy cores a run's CPU time grew tenfold.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

PROC = Path("/proc")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
RUNNING_SAMPLES = 5  # reads of the processes running now, RUNNING_SAMPLE_S apart, averaged
RUNNING_SAMPLE_S = 0.02


def physical_cores(proc: Path = PROC) -> int:
    """Cores this process may run on, counting each physical core once (no hyper-threads), and
    no more than the CPUs its affinity and its cgroup's quota give it."""
    cores = _cores_in_cpuinfo(proc / "cpuinfo") or os.cpu_count() or 1
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return max(1, min(cores, allowed, _cgroup_quota() or cores))


def _cores_in_cpuinfo(path: Path) -> int | None:
    """Distinct (physical id, core id) pairs of /proc/cpuinfo; None where it does not say."""
    try:
        text = path.read_text()
    except OSError:
        return None
    cores, package = set(), "0"
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "physical id":
            package = value
        elif key == "core id":
            cores.add((package, value))
    return len(cores) or None


def _cgroup_quota() -> int | None:
    """CPUs of a cgroup v2 quota ("200000 100000": 2), or None without one."""
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.floor(int(quota) / int(period)))


def cpus_in_use(proc: Path = PROC) -> float:
    """CPUs the other processes use: the 1-minute load average, or the processes running right
    now if more (the load average takes a minute to see a job that has just started); 0 where
    neither can be read."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(load, _running_now(proc))


def _running_now(proc: Path) -> float:
    """Runnable processes other than this one, averaged over a few reads of /proc/loadavg."""
    counts = []
    for sample in range(RUNNING_SAMPLES):
        if sample:
            time.sleep(RUNNING_SAMPLE_S)
        try:
            running = (proc / "loadavg").read_text().split()[3].split("/")[0]
        except (OSError, IndexError):
            return 0.0
        counts.append(int(running) - 1)  # this process is running while it reads
    return max(0.0, sum(counts) / len(counts))


def default_threads(cores: int | None = None, in_use: float | None = None) -> int:
    """The physical cores less those in use (rounded), at least 1, never more than the cores."""
    cores = physical_cores() if cores is None else cores
    in_use = cpus_in_use() if in_use is None else in_use
    return max(1, min(cores, cores - round(in_use)))


@contextlib.contextmanager
def use_threads(threads: int) -> Iterator[int]:
    """Run the block on ``threads`` threads: torch's intra-op pool and every BLAS or OpenMP pool
    numpy and scikit-learn load (threadpoolctl), so that loading and preprocessing the data do
    not start a pool of their own per core."""
    import torch
    from threadpoolctl import threadpool_limits

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield threads
    finally:
        torch.set_num_threads(before)
