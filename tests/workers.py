"""Real `leaderboard worker` processes for the tests and benchmarks of model scoring: a small
challenge whose test.root stays private, test records for a given answer key, the settings a worker reads from ``LEADERBOARD_*``
variables, workers started as subprocesses and always stopped (SIGINT, then SIGKILL), and a
throwaway Redis server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leaderboard.config import ENVIRONMENT

# The `leaderboard` script of this interpreter's environment (PYTHONPATH picks the checkout).
LEADERBOARD = str(Path(sys.executable).with_name("leaderboard"))
READY_LINE = "worker ready"  # logged by leaderboard.queue once the consumer takes tasks
START_TIMEOUT_S = 60.0  # imports, the sandbox check and test.root's records on a busy machine
STOP_TIMEOUT_S = 15.0  # after SIGINT (the running model finishes), then SIGKILL
SETTING_VARIABLES = {key: variable for variable, (key, _) in ENVIRONMENT.items()}


@dataclass(frozen=True)
class TinyChallenge:
    """A challenge laid out for model submissions, and its test events read here, apart from
    the workers (the records a test runs models on to know what the workers must find)."""

    private: Path  # answer_key.csv and test.root
    event_id: np.ndarray  # int64 (n,)
    X: np.ndarray  # float32 (n, L), volts

    @property
    def answer_key(self) -> Path:
        return self.private / "answer_key.csv"


def make_challenge(folder: Path, *, n_test: int = 300, record_length: int = 256) -> TinyChallenge:
    """A small simulated challenge of model submissions under ``folder``: test.root beside the
    answer key in private/, none in public/."""
    import warnings

    from challenge.data import load
    from challenge.generate import generate_challenge

    with warnings.catch_warnings():  # a seed makes practice data: that is what a test wants
        warnings.simplefilter("ignore")
        paths = generate_challenge(folder, n_train=20, n_test=n_test, seed=16,
                                   record_length=record_length, submissions="models",
                                   progress=False)  # fmt: skip
    events = load("test", data_dir=folder)  # from private/, where a models challenge keeps it
    return TinyChallenge(paths["answer_key"].parent, events.event_id, events.X)


def write_test_records(
    folder: Path, key: pd.DataFrame, *, length: int, seed: int = 1, first_signs=None
) -> Path:
    """test.root of records of ``length`` samples for ``key``: carriers' pulses sit higher, so
    a record's mean ranks them; the events are in an order of their own, not the key's.
    ``first_signs`` (+1 or -1 each) sets the signs of the first samples of the first record."""
    from challenge.data import write_split

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(key))
    ids, labels = key["event_id"].to_numpy()[order], key["label"].to_numpy()[order]
    counts = rng.normal(size=(len(key), length)) * 40 + labels[:, None] * 12
    if first_signs is not None:
        head = counts[0, : len(first_signs)]
        counts[0, : len(first_signs)] = np.asarray(first_signs) * np.maximum(np.abs(head), 1)
    metadata = {
        "split": "test", "n_events": len(key), "sampling_rate_hz": 1e6, "record_length": length,
        "volts_per_count": 0.001, "trigger_index": 8, "seed": None, "generator_version": "test",
        "detector": {},
    }  # fmt: skip
    batch = {"event_id": ids, "pulse": np.round(counts).astype(np.int16)}
    write_split(folder / "test.root", [batch], metadata=metadata)
    return folder / "test.root"


def worker_environment(config: dict[str, Any]) -> dict[str, str]:
    """This process's environment without its ``LEADERBOARD_*`` settings, plus ``config`` (the
    same settings as the test app's) as ``LEADERBOARD_*`` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADERBOARD_")}
    for key, value in config.items():
        if key not in SETTING_VARIABLES:
            raise KeyError(f"{key} has no LEADERBOARD_* variable; a worker cannot be given it")
        env[SETTING_VARIABLES[key]] = str(int(value) if isinstance(value, bool) else value)
    return env


@dataclass
class Worker:
    """One `leaderboard worker` process, the file its output goes to, and its temporary folder
    (TMPDIR), where the sandbox makes each model's scratch folder."""

    process: subprocess.Popen
    log_path: Path
    tmp: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory killer or a pulled plug would."""
        _kill_group(self.process)

    def wait_for_sandbox(self, *, timeout_s: float = START_TIMEOUT_S) -> list[int]:
        """The pids of the sandboxes running a model for this worker, once the model's process
        runs in one (their command line names a scratch folder in the worker's TMPDIR)."""
        deadline = time.monotonic() + timeout_s
        while not (found := _running_models(str(self.tmp))):
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.pid} ran no model in {timeout_s:g} s")
            time.sleep(0.02)
        return found


@contextmanager
def running_workers(
    config: dict[str, Any], folder: Path, n: int = 1, *, cwd: Path | None = None
) -> Iterator[list[Worker]]:
    """``n`` worker processes on the settings ``config`` (in the folder ``cwd``, else this
    process's), ready when the block starts and gone when it ends, with nothing they started
    left running (checked: the sandbox's children name their scratch folder, under ``folder``,
    on their command line)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = worker_environment(config)
    workers: list[Worker] = []
    try:
        first = len(list(folder.glob("worker-*.log")))  # a folder may see several groups
        for i in range(first, first + n):
            workers.append(start_worker(env, folder / f"worker-{i}.log", folder / f"tmp-{i}", cwd))
        for worker in workers:
            wait_for_log(worker, READY_LINE)
        yield workers
    finally:
        for worker in workers:
            stop(worker)
        _no_process_left(str(folder))


def start_worker(
    env: dict[str, str],
    log_path: Path,
    tmp: Path,
    cwd: Path | None = None,
    command: Sequence[str] = (LEADERBOARD, "worker"),
) -> Worker:
    """A worker process started with ``command`` (not waited for: see ``wait_for_log``)."""
    tmp.mkdir()  # the sandbox's scratch folders go there: found again by their path
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**env, "TMPDIR": str(tmp)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: killed whole, never hit by the test's ^C
        )
    return Worker(process, log_path, tmp)


def wait_for_log(worker: Worker, text: str, *, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until the worker's output holds ``text``; AssertionError with the output if it ends
    or takes longer."""
    deadline = time.monotonic() + timeout_s
    while text not in worker.log():
        if not worker.alive() or time.monotonic() > deadline:
            state = "ended" if not worker.alive() else f"took over {timeout_s:g} s"
            raise AssertionError(f"worker {worker.pid} {state} before {text!r}:\n{worker.log()}")
        time.sleep(0.05)


def stop(worker: Worker, *, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGINT (the worker finishes its model and exits), SIGKILL after ``timeout_s``; returns
    its exit status."""
    if worker.alive():
        worker.process.send_signal(signal.SIGINT)
        try:
            return worker.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
    _kill_group(worker.process)
    return worker.process.wait()


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _no_process_left(marker: str, *, grace_s: float = 2.0) -> None:
    """Fail (after killing them) if processes naming ``marker`` outlive their worker by
    ``grace_s`` (bubblewrap's --die-with-parent ends a sandbox with its worker)."""
    deadline = time.monotonic() + grace_s
    while (left := [p for p in _processes() if marker in p.command]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    for process in left:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    described = [f"{p.pid} (parent {p.parent}, {p.state}): {p.command[:300]}" for p in left]
    assert not left, "processes left behind by the workers:\n" + "\n".join(described)


@dataclass(frozen=True)
class _Process:
    pid: int
    parent: int
    state: str  # R, S, D, ... (zombies are left out)
    command: str


def _processes() -> list[_Process]:
    """Every live process but this one (zombies left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:  # it ended meanwhile
            continue
        if state != "Z":
            found.append(_Process(int(entry.name), int(parent), state, command))
    return found


def _processes_naming(marker: str) -> list[int]:
    return [p.pid for p in _processes() if marker in p.command]


def _running_models(marker: str) -> list[int]:
    """The sandboxes naming ``marker`` in which the model's own process (onnx_runner) runs,
    past bubblewrap's start, when --die-with-parent already holds (or that process itself,
    where there is no bubblewrap)."""
    processes = _processes()
    children: dict[int, list[_Process]] = {}
    for process in processes:
        children.setdefault(process.parent, []).append(process)

    def runs_model(pid: int) -> bool:
        return any("onnx_runner" in c.command or runs_model(c.pid) for c in children.get(pid, []))

    return [
        p.pid
        for p in processes
        if marker in p.command and ("onnx_runner" in p.command or runs_model(p.pid))
    ]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis_server(port: int, folder: Path) -> Iterator[str]:
    """A Redis server of its own on 127.0.0.1:``port`` (no persistence), yielding its URL;
    stopped at the end. Needs Debian's redis-server."""
    folder.mkdir(parents=True, exist_ok=True)
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
               "--appendonly", "no", "--dir", str(folder)]  # fmt: skip
    with (folder / "redis.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_redis(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for_redis(url: str, server: subprocess.Popen, timeout_s: float = 10.0) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server on {url} did not start") from None
            time.sleep(0.05)
        finally:
            client.close()


def junk_messages(n: int = 40) -> list[bytes]:
    """``n`` forged messages for the scoring queue, as someone with the broker's password writes
    them: not JSON, a pickle, the wrong task, retries or callbacks of their own, odd ids or
    arguments, one too large. None is a message this project sends."""
    import json
    import pickle

    from leaderboard.queue import MESSAGE_DEFAULTS, MESSAGE_NAME

    def message(**changes) -> bytes:
        fields = {"id": "00000000-0000-0000-0000-000000000000", "name": MESSAGE_NAME,
                  "args": [1], **MESSAGE_DEFAULTS}  # fmt: skip
        return json.dumps({**fields, **changes}).encode()

    nested = json.loads(message())
    forged = [
        b"not json",
        b"",
        b"null",
        b"[1, 2]",
        b"\xff\xfe\x00garbage",
        pickle.dumps({"a": 1}),
        message(retries=10**6),
        message(retry_delay=3600),
        message(retry_backoff=2),
        message(eta="2030-01-01T00:00:00"),
        message(priority=10),
        message(timeout=1),
        message(expires=60),
        message(kwargs={"submission_id": 1}),
        message(on_complete=nested),
        message(on_error=nested),
        message(chord_config=["c", 1, 0, nested]),
        message(name="huey.api.some_other_task"),
        message(name=None),
        message(args=[]),
        message(args=["1"]),
        message(args=[1, 2]),
        message(args=[True]),
        message(args=[1.5]),
        message(args={"0": 1}),
        message(id=7),
        message(id=""),
        message(id="x" * 65),
        message(extra="field"),
        message(args=[1], note="x" * 2000),
    ]
    forged.append(
        json.dumps({k: v for k, v in json.loads(message()).items() if k != "eta"}).encode()
    )
    while len(forged) < n:  # more of the same kinds, each a message of its own
        forged.append(message(retries=len(forged), args=[len(forged)]))
    return forged[:n]
