"""What the sandbox costs a model submission: the exported cnn scoring a test set in the sandbox
(child process, limits, bubblewrap and seccomp where installed) against onnxruntime in this
process on the same model and records, session creation included in both. Target: at most 1.3x.

The cnn is trained for one dry-run epoch on a small simulated challenge of full-length records
(16384 samples) and exported with `baselines export`'s code; the test set is those records
repeated to 10,000 (2,000 with --quick): the time of a forward pass does not depend on the
values. The child's start (interpreter, numpy, onnxruntime, bubblewrap: about 0.4 s here) is a
fixed cost, so the ratio is larger on fewer records: 1.57 on the 2,000 of --quick.

Then what refusing a file built to be expensive costs, against accepting the exported cnn (the
static check as the web process runs it on an upload's stored file, in its child; receiving
the upload's bytes is not counted, as it is the same for any file of that size): a file of 2,000,000
`Identity` nodes and one of 23 million empty strings, each refused in at most 2x the time,
with this process's peak memory growing by at most 200 MB (issue 23).

python -m benchmarks.bench_models [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import print_rows, row

REPEAT = 3  # of each way; the best time is reported
TARGET = 1.3
REFUSE_TARGET = 2.0  # x the time to accept the cnn
MEMORY_TARGET_MB = 200


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def crafted_model(kind: str) -> bytes:
    """The bytes of a ModelProto built to be expensive to parse, written on the wire directly
    (protobuf itself would need the gigabytes the check must not spend)."""
    output = _field(12, _field(1, b"y") + _field(2, _field(1, _varint(1 << 3) + b"\x01")))
    header = b"\x08\x08" + _field(8, b"\x10\x11")  # ir_version 8, opset 17
    if kind == "nodes":  # 2,000,000 Identity nodes
        node = _field(1, _field(1, b"x") + _field(2, b"x") + _field(4, b"Identity"))
        graph = node * 2_000_000 + output
    else:  # one string tensor of 23 million empty strings
        tensor = b"\x10\x08" + b"\x32\x00" * 23_000_000  # data_type STRING, string_data ""
        graph = _field(5, tensor) + output
    return header + _field(7, graph)


def _peak_kb() -> int:
    """This process's peak resident memory (VmHWM, kB)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])


def _reset_peak_kb() -> int:
    """Reset the peak to the current resident memory (Linux: clear_refs 5); the new peak."""
    Path("/proc/self/clear_refs").write_text("5")
    return _peak_kb()


def refusal_rows(cnn: Path, folder: Path, record_length: int) -> list[dict]:
    from challenge.model import ModelError, check_model_file

    def accept() -> None:
        check_model_file(cnn, record_length=record_length)

    accept_s, _ = best(accept)
    rows = []
    for kind, what in (
        ("nodes", "2,000,000 Identity nodes"),
        ("strings", "23 million empty strings"),
    ):
        path = folder / f"crafted-{kind}.onnx"
        path.write_bytes(crafted_model(kind))
        peak_kb = _reset_peak_kb()

        def refuse(path=path) -> None:
            try:
                check_model_file(path, record_length=record_length)
            except ModelError:
                return
            raise AssertionError(f"{path.name} was accepted")

        refuse_s, _ = best(refuse)
        grown_mb = (_peak_kb() - peak_kb) / 1024
        size_mb = path.stat().st_size / 1e6
        rows.append(row(f"refuse a {size_mb:.0f} MB model of {what} (this process's peak memory "
                        f"grew {grown_mb:.0f} MB, target <= {MEMORY_TARGET_MB})", refuse_s,
                        accept_s, reference_name="accept the exported cnn",
                        target=f"<= {REFUSE_TARGET}"))  # fmt: skip
    return rows


def exported_cnn(folder: Path) -> tuple[Path, np.ndarray]:
    """The exported cnn's file and the simulated records it was trained on."""
    from baselines.export import export_onnx, write_onnx
    from baselines.train import TrainConfig, train
    from challenge.data import load, read_metadata
    from challenge.generate import generate_challenge

    generate_challenge(folder, n_train=200, n_test=20, seed=11, progress=False)
    events = load("train", data_dir=folder)
    metadata = read_metadata("train", data_dir=folder)
    config = TrainConfig(seed=0, device="cpu", dry_run=True, progress=False)
    trained, val_idx = train("cnn", events.X, events.y, metadata, config=config)
    model, _ = export_onnx(trained, events.X[val_idx])
    return write_onnx(model, folder / "cnn.onnx"), events.X


def in_process(path: Path, X: np.ndarray, threads: int) -> np.ndarray:
    from challenge.model import check_model_file, check_scores
    from challenge.onnx_runner import make_session, run_batches

    check_model_file(path, record_length=X.shape[1])
    return check_scores(run_batches(make_session(path.read_bytes(), threads=threads), X), len(X))


def best(fn, repeat: int = REPEAT) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def run(*, quick: bool = False) -> list[dict]:
    from challenge.sandbox import RecordsFile, SandboxLimits, score_model

    n_records = 2_000 if quick else 10_000
    limits = SandboxLimits()
    with tempfile.TemporaryDirectory() as tmp:
        path, X = exported_cnn(Path(tmp))
        X = np.ascontiguousarray(np.resize(X, (n_records, X.shape[1])), dtype=np.float32)
        records = RecordsFile.write(X, Path(tmp, "records"))  # once per challenge, as a worker
        reference, expected = best(lambda: in_process(path, X, limits.threads))
        measured, result = best(lambda: score_model(path, records, limits=limits))
        refusals = refusal_rows(path, Path(tmp), X.shape[1])
    assert np.array_equal(result.scores, expected), "the sandbox scored differently"
    return refusals + [
        row(
            f"cnn on {n_records:,} records of {X.shape[1]} samples, sandboxed ({result.isolation})",
            measured,
            reference,
            reference_name="onnxruntime in this process",
            target=f"<= {TARGET}",
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 records instead of 10,000")
    print_rows(run(quick=parser.parse_args().quick))
