"""Run an ONNX model on records with onnxruntime, in batches; also the sandbox's child process.

Imports only the standard library, numpy and onnxruntime (never `challenge`), so that the sandbox
can start it as a plain script (`python -I onnx_runner.py`) with nothing else on its path.
The child sets its own resource limits, loads the seccomp filter, maps the records on stdin,
then (only then) parses the model, scores and writes the raw output to a file; errors go to stderr.
"""

from __future__ import annotations

import json
import mmap
import os
import resource
import sys
import threading

import numpy as np

EXIT_MODEL_FAILED = 3  # onnxruntime failed to run the model on the records; reason on stderr
EXIT_OUT_OF_MEMORY = 4
EXIT_OUTPUT_TOO_LARGE = 5  # Python ignores SIGXFSZ: past RLIMIT_FSIZE a write fails instead
EXIT_MODEL_REFUSED = 6  # onnxruntime refused to load the model (before any record reached it)
EXIT_PARENT_GONE = 7  # the process that started this one ended: nobody waits for the scores
EXIT_LOAD_OUT_OF_MEMORY = 8  # out of memory while loading the model (before any record reached it)
HEADER_BYTES = 16  # the records file on stdin: int64 n and record_length, then float32 (n, L)
# the calls a model never needs; any of them fails with EPERM once the filter is loaded
DENIED_SYSCALLS = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "execve",
    "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2",
    "unshare", "setns", "chroot", "pivot_root", "bpf", "perf_event_open", "keyctl",
    "add_key", "request_key", "io_uring_setup", "kexec_load", "init_module", "finit_module",
    "personality", "userfaultfd", "creat", "mkdir", "mkdirat", "mknod", "mknodat", "link",
    "linkat", "symlink", "symlinkat", "rename", "renameat", "renameat2", "memfd_create",
)  # fmt: skip
CLONE_NEWUSER = 0x10000000
O_TMPFILE = 0o20000000 | os.O_DIRECTORY
# (call, argument index, flag): the call is refused when the argument has the flag
CREATING_CALLS = (
    ("open", 1, os.O_CREAT), ("open", 1, O_TMPFILE), ("openat", 2, os.O_CREAT),
    ("openat", 2, O_TMPFILE), ("clone", 0, CLONE_NEWUSER),
)  # fmt: skip


def make_session(model: bytes, *, threads: int = 1):
    """An onnxruntime session on the CPU for the model's bytes. No custom-op library is ever
    registered, and the model is loaded from memory, so it can name no file beside it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: warnings would name the server's paths
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def run_batches(session, X: np.ndarray, *, batch_size: int = 1000) -> np.ndarray:
    """The model's raw output for records X (n, L) float32, run `batch_size` records at a time
    and joined along the first axis (the first batch alone if the batches do not join)."""
    name = session.get_inputs()[0].name
    parts = [
        np.asarray(session.run(None, {name: X[i : i + batch_size]})[0])
        for i in range(0, len(X), batch_size)
    ]
    if not parts:
        return np.zeros(0, dtype=np.float32)
    if any(p.ndim == 0 or p.shape[1:] != parts[0].shape[1:] for p in parts):
        return parts[0]
    return np.concatenate(parts)


def _set_limits(limits: dict) -> None:
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), tuple(value))


def _load_seccomp(module_path: str) -> None:
    """Deny the calls of DENIED_SYSCALLS with the libseccomp binding at `module_path` (Debian's
    python3-seccomp, loaded by its path: the venv does not see Debian's packages)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("seccomp", module_path)
    seccomp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seccomp)
    errno_eperm, errno_enosys = 1, 38
    flt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for call in DENIED_SYSCALLS:
        try:
            flt.add_rule(seccomp.ERRNO(errno_eperm), call)
        except (RuntimeError, ValueError):  # a call this architecture does not have
            continue
    # No new file anywhere (the output's is open already) and no new user namespace: the
    # flags are arguments, so these rules look at them
    for call, index, flag in CREATING_CALLS:
        masked = seccomp.Arg(index, seccomp.MASKED_EQ, flag, flag)
        flt.add_rule(seccomp.ERRNO(errno_eperm), call, masked)
    # clone3 passes its flags in memory, out of a filter's sight: ENOSYS makes the C library
    # fall back to clone, whose flags the rule above reads
    flt.add_rule(seccomp.ERRNO(errno_enosys), "clone3")
    flt.add_rule(seccomp.ERRNO(errno_enosys), "openat2")
    flt.load()


def _map_records() -> np.ndarray:
    """The records (n, L) float32 of the file on stdin, mapped read-only: no copy, no parsing."""
    # MAP_POPULATE: the pages of the page cache in one call, not one fault per 4 kB page
    flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
    mapped = mmap.mmap(sys.stdin.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    n, length = (int(v) for v in np.frombuffer(mapped, dtype="<i8", count=2))
    X = np.frombuffer(mapped, dtype=np.float32, count=n * length, offset=HEADER_BYTES)
    return X.reshape(n, length)


def child_main(argv: list[str]) -> int:
    """argv: a JSON object with lifeline, limits, seccomp, model, output_fd, batch_size, threads."""
    job = json.loads(argv[0])
    _exit_with_parent(job["lifeline"])
    _set_limits(job["limits"])
    if job["seccomp"]:
        _load_seccomp(job["seccomp"])
    X = _map_records()
    try:
        with open(job["model"], "rb") as f:
            session = make_session(f.read(), threads=job["threads"])
    except MemoryError:
        return EXIT_LOAD_OUT_OF_MEMORY
    except Exception as err:  # onnxruntime raises its own types; the parent reads the reason
        return _report(err, EXIT_MODEL_REFUSED)
    try:
        output = run_batches(session, X, batch_size=job["batch_size"])
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    except Exception as err:
        return _report(err, EXIT_MODEL_FAILED)
    try:
        with open(job["output_fd"], "wb") as f:
            np.save(f, output, allow_pickle=False)
    except OSError:  # EFBIG, or numpy's short write, at RLIMIT_FSIZE
        return EXIT_OUTPUT_TOO_LARGE
    return 0


def _exit_with_parent(lifeline: int) -> None:
    """Exit as soon as the process that started this one ends, however it ends: it holds the
    other end of the pipe ``lifeline``, whose read returns only then."""

    def wait() -> None:
        os.read(lifeline, 1)
        os._exit(EXIT_PARENT_GONE)

    threading.Thread(target=wait, daemon=True).start()


def _report(err: Exception, code: int) -> int:
    text = str(err).strip().replace("\n", " ")
    sys.stderr.write(f"{type(err).__name__}: {text}\n")
    return code


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
