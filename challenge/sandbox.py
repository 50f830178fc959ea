"""Score a model file on records in a sandboxed child process; the parent keeps the answer key.

The file is checked statically first (`challenge.model`). The child (`challenge/onnx_runner.py`,
run as a plain script) gets only the model and the records; it runs under limits on CPU time,
wall time, address space and file size and, where Debian's bubblewrap is installed, in a
namespace without network whose only writable folder is a scratch folder, with a seccomp filter
where python3-seccomp is installed. It lives in `challenge` so that `challenge check-model` runs
the very checks the leaderboard's workers run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from challenge import onnx_runner
from challenge.model import (
    INPUT_TYPE,
    ModelError,
    ModelInfo,
    ModelLimits,
    check_model_file,
    check_scores,
    declared_output,
    require_onnx,
)

RUNNER = Path(onnx_runner.__file__).resolve()
# Debian's python3-seccomp, built for Debian's Python; usable by another build of the same
# version (a venv does not see Debian's packages, so the child loads it by its path)
SECCOMP_MODULE = Path("/usr/lib/python3/dist-packages") / (
    "seccomp" + str(sysconfig.get_config_var("EXT_SUFFIX"))
)
SCRATCH_IN_SANDBOX = "/sandbox"  # where the child sees its scratch folder and its script
RUNNER_IN_SANDBOX = "/runner/onnx_runner.py"
STDERR_CHARS = 300  # of the child's reason for a failure


@dataclass(frozen=True)
class SandboxLimits:
    """The limits of one scoring run; the leaderboard's config overrides them."""

    wall_seconds: float = 60.0
    cpu_seconds: int = 120  # CPU time of all threads together
    memory_bytes: int = 4 * 2**30  # address space of the child
    file_bytes: int = 64 * 2**20  # the largest file the child may write (its output)
    # the child's only writable space under bubblewrap, a tmpfs of this size (/sandbox, /tmp)
    scratch_bytes: int = 16 * 2**20
    threads: int = 1
    batch_size: int = 1000
    use_bubblewrap: bool = True  # where installed
    use_seccomp: bool = True  # where python3-seccomp is installed


@dataclass(frozen=True)
class SandboxResult:
    scores: np.ndarray  # float64 (n,)
    seconds: float  # wall time of the child, start to exit
    isolation: str  # what confined the child, e.g. "rlimits + bubblewrap + seccomp"


class SandboxError(ModelError):
    """The model ran but failed: a limit, a crash, or onnxruntime's own error."""


def isolation(limits: SandboxLimits) -> tuple[str | None, str | None]:
    """The bwrap executable and the seccomp module this machine provides (None where absent)."""
    bwrap = shutil.which("bwrap") if limits.use_bubblewrap else None
    seccomp = SECCOMP_MODULE if limits.use_seccomp and SECCOMP_MODULE.is_file() else None
    return bwrap, (str(seccomp) if seccomp else None)


@dataclass(frozen=True)
class RecordsFile:
    """Records as the child reads them: int64 n and record_length, then float32 (n, L). A worker
    writes the test records once and every model maps the same file."""

    path: Path
    n: int
    record_length: int

    @classmethod
    def write(cls, X: np.ndarray, path: str | os.PathLike) -> RecordsFile:
        X = np.ascontiguousarray(X, dtype=np.float32)
        with Path(path).open("wb") as f:
            f.write(np.array(X.shape, dtype="<i8").tobytes())
            X.tofile(f)
        return cls(Path(path), *X.shape)


def score_model(
    path: str | os.PathLike,
    records: np.ndarray | RecordsFile,
    *,
    limits: SandboxLimits | None = None,
    model_limits: ModelLimits | None = None,
    private: bool = False,
) -> SandboxResult:
    """Scores float64 (n,) by the model file at `path` of records (n, L) (an array, or a file
    written once by `RecordsFile.write`), run in the sandbox.

    ModelError if the file breaks the contract, SandboxError if running it fails. With
    `private` (the leaderboard's test pulses) every failure after the model has loaded gets the
    one reason ``private_failure``, which depends on the file and the limits alone: not which
    limit was hit, not the output's shape, not onnxruntime's run-time error, which can quote
    values computed from its input.
    """
    limits = limits or SandboxLimits()
    length = records.record_length if isinstance(records, RecordsFile) else records.shape[1]
    info = check_model_file(path, record_length=length, limits=model_limits)
    with tempfile.TemporaryDirectory(prefix="model-sandbox-") as run:  # mode 0700
        scratch = Path(run, "scratch")  # the child's only writable folder
        scratch.mkdir()
        shutil.copyfile(path, scratch / "model.onnx")
        if not isinstance(records, RecordsFile):  # beside the child's folder, not in it
            records = RecordsFile.write(records, Path(run, "records"))
        hidden = private_failure(info, limits) if private else None
        start = time.perf_counter()
        with records.path.open("rb") as stdin:  # a file, which the child maps without a copy
            output = _run_child(scratch, stdin, limits, hidden)
        seconds = time.perf_counter() - start
    bwrap, seccomp = isolation(limits)
    used = ["rlimits"] + (["bubblewrap"] if bwrap else []) + (["seccomp"] if seccomp else [])
    try:
        scores = check_scores(output, records.n)
    except ModelError as err:
        raise SandboxError(hidden or str(err)) from None
    return SandboxResult(scores, seconds, " + ".join(used))


def private_failure(info: ModelInfo, limits: SandboxLimits) -> str:
    """The reason of every failure of a model on private records once it has loaded.

    What went wrong in the run (an error, which limit, the output's shape, a NaN) can depend on
    the records, so it is never said: the text depends only on the model file (its declared
    output) and the limits, and a team learns from it nothing but that the run failed.
    """
    declared = declared_output(info)  # a wrong one is refused before the run (challenge.model)
    return (
        "the model did not give one finite score per test record: it stopped with an error, "
        f"went past a limit ({limits_text(limits)}) or gave output other than finite scores of "
        f"shape (n,) or (n, 1) (its file declares {declared}); which one is not said, as it can "
        "depend on the test pulses: `challenge check-model` on the training records shows it"
    )


def limits_text(limits: SandboxLimits) -> str:
    """The limits of one run, in words."""
    return (
        f"{limits.wall_seconds:g} s of wall time, {limits.cpu_seconds} s of CPU time, "
        f"{limits.memory_bytes / 2**30:g} GB of memory, {limits.file_bytes / 2**20:g} MB of output"
    )


def probe(limits: SandboxLimits | None = None) -> SandboxResult:
    """Run a tiny model (each record's mean) on two records in the sandbox, to learn before any
    real model whether this machine can run one (bubblewrap without user namespaces, a broken
    onnxruntime); SandboxError with the reason if not."""
    helper = require_onnx().helper
    node = helper.make_node("ReduceMean", ["volts"], ["score"], axes=[1], keepdims=0)
    graph = helper.make_graph(
        [node],
        "probe",
        [helper.make_tensor_value_info("volts", INPUT_TYPE, ["n", None])],
        [helper.make_tensor_value_info("score", INPUT_TYPE, ["n"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    X = np.arange(16, dtype=np.float32).reshape(2, 8)
    with tempfile.TemporaryDirectory(prefix="model-probe-") as folder:
        path = Path(folder, "probe.onnx")
        path.write_bytes(model.SerializeToString())
        result = score_model(path, X, limits=limits)
    if not np.allclose(result.scores, X.mean(axis=1)):
        raise SandboxError(f"the probe model scored {result.scores}, expected {X.mean(axis=1)}")
    return result


def _job(limits: SandboxLimits, seccomp: str | None, folder: str, lifeline: int,
         output: int) -> dict:  # fmt: skip
    return {
        "lifeline": lifeline,
        "limits": {
            # soft, hard: SIGXCPU at the soft limit names the reason; SIGKILL a second later
            "RLIMIT_CPU": (int(limits.cpu_seconds), int(limits.cpu_seconds) + 1),
            "RLIMIT_AS": (int(limits.memory_bytes),) * 2,
            "RLIMIT_FSIZE": (int(limits.file_bytes),) * 2,
            "RLIMIT_CORE": (0, 0),
        },
        "seccomp": seccomp,
        "model": f"{folder}/model.onnx",
        "output_fd": output,  # opened here: the child creates no file of its own
        "batch_size": limits.batch_size,
        "threads": limits.threads,
    }


def _command(scratch: Path, limits: SandboxLimits, lifeline: int, output: int) -> list[str]:
    bwrap, seccomp = isolation(limits)
    folder = SCRATCH_IN_SANDBOX if bwrap else str(scratch)
    runner = RUNNER_IN_SANDBOX if bwrap else str(RUNNER)
    job = _job(limits, seccomp, folder, lifeline, output)
    # -I: no environment variables, no user site, not the script's folder on the path
    python = [sys.executable, "-I", runner, json.dumps(job)]
    return _bwrap_prefix(bwrap, scratch, limits) + python if bwrap else python


def _bwrap_prefix(bwrap: str, scratch: Path, limits: SandboxLimits) -> list[str]:
    """A namespace with no network and no other process, where the interpreter's folders are
    read-only and the only writable space is a tmpfs of ``limits.scratch_bytes`` (the working
    folder, also seen as /tmp); the root and /dev are read-only, the data folders absent."""
    command = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    command += ["--unshare-user", "--disable-userns"]  # no user namespace inside, seccomp or not
    command += ["--dev", "/dev", "--proc", "/proc"]
    folders = readable_folders()
    for folder in folders:
        command += ["--ro-bind-try", folder, folder]
    command += ["--ro-bind", str(RUNNER), RUNNER_IN_SANDBOX]
    command += ["--size", str(int(limits.scratch_bytes)), "--tmpfs", SCRATCH_IN_SANDBOX]
    command += ["--ro-bind", str(scratch / "model.onnx"), f"{SCRATCH_IN_SANDBOX}/model.onnx"]
    if not any(f == "/tmp" or f.startswith("/tmp/") for f in folders):
        command += ["--symlink", SCRATCH_IN_SANDBOX, "/tmp"]
    command += ["--chdir", SCRATCH_IN_SANDBOX, "--remount-ro", "/dev", "--remount-ro", "/"]
    return command


def readable_folders() -> list[str]:
    """What a model's process can read under bubblewrap, besides its model and its records: the
    interpreter's folders, read-only. A file there is readable by every model."""
    return ["/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", sys.base_prefix, sys.prefix,
            str(Path(sys.executable).parent), *_package_folders()]  # fmt: skip


def _package_folders() -> list[str]:
    """The site-packages folders of numpy and onnxruntime, the child's only imports: outside
    the prefix where a venv reaches another's packages through a .pth file."""
    import importlib.util

    folders = []
    for name in ("numpy", "onnxruntime"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            folders.append(str(Path(spec.origin).resolve().parent.parent))
    return sorted(set(folders))


def _run_child(scratch: Path, stdin, limits: SandboxLimits, hidden: str | None) -> np.ndarray:
    """The model's raw output; SandboxError with the reason, or with ``hidden`` for any failure
    after the model loaded when the records are private."""
    # The child exits when `held` closes, which this process does however it ends (a worker
    # killed with SIGKILL too): bubblewrap's --die-with-parent misses now and then.
    lifeline, held = os.pipe()
    output = os.open(scratch / "output.npy", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        child = subprocess.Popen(
            _command(scratch, limits, lifeline, output),
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=scratch,
            env={"OMP_NUM_THREADS": str(limits.threads)},
            start_new_session=True,  # one process group, killed whole on a timeout
            pass_fds=(lifeline, output),
        )
    finally:
        os.close(lifeline)
        os.close(output)
    try:
        _, stderr = child.communicate(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise SandboxError(
            hidden or f"exceeded the wall time of {limits.wall_seconds:g} s"
        ) from None
    finally:
        os.close(held)
    code = child.returncode
    if code > 128 and isolation(limits)[0]:  # bwrap reports a signal N as status 128 + N
        code = 128 - code
    _raise_for_exit(code, stderr.decode(errors="replace"), scratch, limits, hidden)
    try:
        return np.load(scratch / "output.npy", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise SandboxError(hidden or f"the model's output could not be read back ({err})") from None


def _raise_for_exit(
    code: int, stderr: str, scratch: Path, limits: SandboxLimits, hidden: str | None = None
) -> None:
    if code == 0:
        return
    gb = limits.memory_bytes / 2**30
    reason = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    reason = reason.replace(str(scratch), ".").replace(SCRATCH_IN_SANDBOX, ".")[:STDERR_CHARS]
    # Loading reads the file alone (no record has reached the model yet): said in full.
    if code == onnx_runner.EXIT_LOAD_OUT_OF_MEMORY or (
        code == onnx_runner.EXIT_MODEL_REFUSED and _is_allocation_failure(reason)
    ):
        raise SandboxError(f"exceeded the memory limit of {gb:g} GB while loading the model")
    if code == onnx_runner.EXIT_MODEL_REFUSED:
        raise SandboxError(f"onnxruntime could not load the model: {reason}")
    if hidden:
        raise SandboxError(hidden)
    if code == onnx_runner.EXIT_OUT_OF_MEMORY or _is_allocation_failure(reason):
        raise SandboxError(f"exceeded the memory limit of {gb:g} GB")
    if code == onnx_runner.EXIT_MODEL_FAILED:
        raise SandboxError(f"onnxruntime could not run the model: {reason}")
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        raise SandboxError(f"exceeded the CPU time of {limits.cpu_seconds} s")
    if code in (-signal.SIGXFSZ, onnx_runner.EXIT_OUTPUT_TOO_LARGE):
        raise SandboxError(f"wrote more than {limits.file_bytes / 2**20:g} MB of output")
    signame = signal.Signals(-code).name if code < 0 else f"status {code}"
    said = f": {reason}" if reason else ""  # its last words (bubblewrap's refusal, say)
    raise SandboxError(f"the model's process ended with {signame}{said}")


def _is_allocation_failure(reason: str) -> bool:
    text = reason.lower()
    return any(s in text for s in ("bad_alloc", "bad allocation", "failed to allocate"))
