"""The CPU threads of a training run: the physical cores less those in use, one limit for torch
and for numpy's BLAS, and the `--threads` flag of `baselines train` and `compare`."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from threadpoolctl import threadpool_info

from baselines import threads
from baselines.cli import main

# Two sockets of two cores with two hyper-threads each: 8 logical CPUs, 4 physical cores.
CPUINFO = "".join(
    f"processor\t: {n}\nphysical id\t: {n // 4}\ncore id\t\t: {n % 4 // 2}\n\n" for n in range(8)
)


@pytest.mark.parametrize(
    ("cores", "in_use", "expected"),
    [
        (2, 0.0, 2),  # an idle machine: every core
        (2, 0.4, 2),
        (2, 0.6, 1),  # one core busy: the other one
        (2, 1.0, 1),
        (2, 13.0, 1),  # far more than the cores in use: still one thread
        (8, 2.6, 5),
        (4, -1.0, 4),  # never more than the cores
    ],
)
def test_the_default_is_the_free_physical_cores(cores, in_use, expected):
    assert threads.default_threads(cores, in_use) == expected


def test_physical_cores_count_each_core_once(tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    assert threads._cores_in_cpuinfo(tmp_path / "cpuinfo") == 4
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nBogoMIPS\t: 50\n")  # no core ids (arm)
    assert threads._cores_in_cpuinfo(tmp_path / "cpuinfo") is None
    assert threads._cores_in_cpuinfo(tmp_path / "absent") is None


def test_the_processes_running_now_count_beside_the_load_average(tmp_path):
    """The load average lags a minute behind a job that just started; the running count not."""
    (tmp_path / "loadavg").write_text("0.00 0.00 0.00 4/210 12345\n")
    assert threads._running_now(tmp_path) == 3  # this process is one of the 4
    assert threads.cpus_in_use(tmp_path) >= 3
    (tmp_path / "loadavg").write_text("garbled\n")
    assert threads._running_now(tmp_path) == 0


def test_one_limit_for_torch_and_blas():
    before = torch.get_num_threads()
    with threads.use_threads(1):
        assert torch.get_num_threads() == 1
        assert {pool["num_threads"] for pool in threadpool_info()} <= {1}
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        with threads.use_threads(0):
            pass


def test_train_says_how_many_threads_it_takes(tmp_path):
    from challenge.generate import generate_challenge

    generate_challenge(tmp_path / "data", n_train=80, n_test=20, record_length=256, seed=3,
                       progress=False)  # fmt: skip
    args = ["train", "logit", "--data", str(tmp_path / "data"), "--dry-run", "--out-dir",
            str(tmp_path / "run")]  # fmt: skip
    chosen = CliRunner().invoke(main, [*args, "--threads", "1"])
    assert chosen.exit_code == 0, chosen.output
    assert "training on 1 CPU thread (--threads)\n" in chosen.stderr
    default = CliRunner().invoke(main, args)
    assert default.exit_code == 0, default.output
    expected = threads.physical_cores()
    assert f"({expected} physical cores, " in default.stderr and "in use by other processes" in (
        default.stderr
    )
    refused = CliRunner().invoke(main, [*args, "--threads", "0"])
    assert refused.exit_code == 2 and "--threads" in refused.output
