"""The model contract of model submissions, and the static check of a model file before it runs.

A model is one ONNX file: one input, float32 volts of shape (batch, record_length); one output,
a score of shape (batch,) or (batch, 1), higher = carrier-like; preprocessing is in the graph.
The file is checked before anything runs it: size, bounds on what it holds (counted on its
bytes before parsing, `challenge.model_scan`), format, operator domains, no external data; the
check runs in a child process under CPU and memory limits, so no file can take its caller down.
"""

from __future__ import annotations

import importlib
import mmap
import os
import pickle
import resource
import select
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from challenge.extras import require_extra
from challenge.model_scan import NotProtobuf, ScanError, ScanLimits, scan_model_bytes
from challenge.submission import DEFAULT_MAX_BYTES, format_size

# the operators of the ONNX standard ('' and 'ai.onnx' are the same default domain) and its
# classical-ML set (tree ensembles, as converters write them); nothing else can run
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
SCORE_TYPES = {1: "float32", 11: "float64"}  # onnx.TensorProto.FLOAT, DOUBLE
INPUT_TYPE = 1  # onnx.TensorProto.FLOAT


@dataclass(frozen=True)
class ModelLimits:
    """What a model file may be; the leaderboard and `challenge check-model` use the same."""

    # the exported baselines are under 5 MB; the same limit as a prediction file, so one
    # proxy setting (deploy/nginx-proxy.conf) serves both kinds of challenge
    max_bytes: int = DEFAULT_MAX_BYTES
    domains: frozenset[str] = field(default=STANDARD_DOMAINS)
    scan: ScanLimits = field(default_factory=ScanLimits)
    # the child process that checks a file: CPU seconds, address space beyond its start
    check_cpu_seconds: int = 20
    check_memory_bytes: int = 1 << 30


class ModelError(ValueError):
    """A model file or its output breaks the contract; the message says what and what was expected.

    Messages name only the file's own content (its tensors, shapes, operators), never the
    records it was run on or anything about the answer key.
    """


@dataclass(frozen=True)
class ModelInfo:
    """What the static check learned about an accepted file."""

    input_name: str
    output_name: str
    record_length: int | None  # None: the file accepts any length
    opset: int
    n_bytes: int
    # the output's dimensions as the file declares them (None: symbolic); None: no shape declared
    output_dims: tuple[int | None, ...] | None = None


def require_onnx(module: str = "onnx"):
    """Import `onnx` or `onnxruntime`, or raise ImportError with the pip command."""
    require_extra("models")
    return importlib.import_module(module)


def check_model_file(
    path: str | os.PathLike,
    *,
    record_length: int | None = None,
    limits: ModelLimits | None = None,
    name: str | None = None,
    in_child: bool = True,
) -> ModelInfo:
    """Check the file at `path` against the contract without running it; ModelError if not.

    The size is checked before a byte is read, so a huge file costs a `stat`; the rest runs in
    a child process under CPU and memory limits (``in_child``), where the bounds of
    `limits.scan` are counted on the bytes before they are parsed. Messages name the file
    `name` (default: the file's own name), e.g. the name a team uploaded it under.
    """
    limits = limits or ModelLimits()
    path = Path(path)
    name = name or path.name
    _check_size(path, limits.max_bytes, name)
    if not in_child:
        return _check_here(path, record_length, limits, name)
    return _check_in_child(path, record_length, limits, name)


def _check_here(path: Path, record_length: int | None, limits: ModelLimits, name: str) -> ModelInfo:
    n_bytes = _check_size(path, limits.max_bytes, name)
    # mapped: the scan reads only the pages up to the first bound passed, not the whole file
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        _check_bounds(mapped, limits.scan, name)
        data = mapped[:]
    model = _parse(data, name)
    del data
    # before onnx's checker, which would follow an external-data path to a file
    _check_domains(model, limits.domains)
    _check_no_external_data(model)
    _check_valid(model, name)
    input_name, length = _check_input(model, record_length)
    output_name, output_dims = _check_output(model)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return ModelInfo(input_name, output_name, length, opset, n_bytes, output_dims)


CHECK_WALL_MARGIN_S = 10  # the child's wall limit: its CPU limit plus this


def _check_in_child(path: Path, record_length: int | None, limits: ModelLimits,
                    name: str) -> ModelInfo:  # fmt: skip
    """`_check_here` in a forked child (onnx already loaded: a fork costs milliseconds) under
    RLIMIT_CPU and RLIMIT_AS; ModelError with the reason. The child only reads the file,
    parses and checks it, and writes the result to a pipe: nothing that another thread of this
    process may have held at the fork."""
    require_onnx()
    receive, send = os.pipe()
    with warnings.catch_warnings():  # Python 3.12 warns about any fork of a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's exit handlers
        try:
            os.close(receive)
            _check_child(send, path, record_length, limits, name)
        finally:
            os._exit(0)
    os.close(send)
    try:
        answer = _read_answer(receive, limits.check_cpu_seconds + CHECK_WALL_MARGIN_S)
    finally:
        os.close(receive)
        _reap(pid)
    if answer is None:
        raise ModelError(
            f"{name}: the file could not be checked within the limits of a model check "
            f"({limits.check_cpu_seconds} s of CPU, {limits.check_memory_bytes / 2**30:g} GB "
            "of memory); a model of this challenge needs far less"
        )
    kind, value = answer
    if kind == "error":
        raise ModelError(value)
    return value


def _read_answer(fd: int, timeout_s: float):
    """The child's pickled (kind, value) from pipe ``fd``, or None when it died first or took
    longer than ``timeout_s``."""
    deadline, chunks = time.monotonic() + timeout_s, []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    try:
        return pickle.loads(b"".join(chunks))  # our own child's: a ModelInfo or a message
    except Exception:  # cut short: the child died while writing
        return None


def _reap(pid: int) -> None:
    """Kill the child if it still runs, and wait for it."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def _check_child(send: int, path: Path, record_length: int | None, limits: ModelLimits,
                 name: str) -> None:  # fmt: skip
    """In the child: set the limits, check, write ("ok", ModelInfo) or ("error", message)."""
    cpu = limits.check_cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = _address_space() + limits.check_memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        result = ("ok", _check_here(path, record_length, limits, name))
    except ModelError as err:
        result = ("error", str(err))
    except MemoryError:
        result = ("error", f"{name}: checking the file needed more than the memory limit of a "
                           f"model check ({limits.check_memory_bytes / 2**30:g} GB)")  # fmt: skip
    except Exception as err:  # onnx's and protobuf's own errors, on a file built to raise them
        result = ("error", f"{name}: not a valid ONNX model: {type(err).__name__}: "
                           f"{_first_line(err)}")  # fmt: skip
    data = memoryview(pickle.dumps(result))
    while data:
        data = data[os.write(send, data) :]
    os.close(send)


def _address_space() -> int:
    """This process's virtual memory size in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def check_scores(output: np.ndarray, n_records: int) -> np.ndarray:
    """The model's output for `n_records` records as float64 scores (n,); ModelError if it is
    not (n,) or (n, 1) of finite numbers.

    The messages describe the output, so they are for records of one's own (training records,
    `challenge check-model`); on private records the sandbox gives a fixed reason instead
    (``sandbox.private_failure``).
    """
    output = np.asarray(output)
    shape = output.shape
    if shape not in ((n_records,), (n_records, 1)):
        raise ModelError(
            f"output has shape {_shape_text(shape, n_records)}, expected (n,) or (n, 1) for "
            f"n = {n_records} records"
        )
    if output.dtype.kind != "f":  # the declared type: onnxruntime returns what the file says
        raise ModelError(f"output has type {output.dtype}, expected float32 or float64 scores")
    scores = output.reshape(n_records).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        raise ModelError(
            f"output has {len(bad)} non-finite scores (NaN or inf) among {n_records} records, "
            f"the first at record {bad[0]}; every score must be a finite number"
        )
    return scores


DECLARED_DIMS_SHOWN = 6  # a declared output shape longer than this is shortened in messages


def declared_output(info: ModelInfo) -> str:
    """The output shape the model file declares, in words that depend on the file alone:
    "(?, 1)" ("?": a size the file leaves open), shortened past DECLARED_DIMS_SHOWN dimensions."""
    return _declared(info.output_dims)


def _declared(dims: tuple[int | None, ...] | None) -> str:
    if dims is None:
        return "no output shape"
    shown = ["?" if d is None else str(d) for d in dims[:DECLARED_DIMS_SHOWN]]
    if len(dims) > DECLARED_DIMS_SHOWN:
        shown.append(f"… {len(dims)} dimensions in all")
    return "(" + ", ".join(shown) + ("," if len(dims) == 1 else "") + ")"


def _wrong_output(dims: tuple[int | None, ...] | None) -> bool:
    """Whether a file declares an output shape other than (n,) or (n, 1) for a free batch size
    n: another rank, a fixed batch size, or a fixed second size other than 1."""
    if dims is None:
        return False
    if len(dims) not in (1, 2):
        return True
    return dims[0] not in (None, 0) or (len(dims) == 2 and dims[1] not in (None, 1))


def _shape_text(shape: tuple, n: int) -> str:
    dims = ["n" if d == n else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _check_size(path: Path, max_bytes: int, name: str) -> int:
    try:
        n_bytes = path.stat().st_size
    except OSError as err:
        raise ModelError(f"{name}: cannot read the model file ({err.strerror})") from None
    if n_bytes > max_bytes:
        raise ModelError(
            f"{name}: {format_size(n_bytes)}, over the limit of a model file, "
            f"{format_size(max_bytes)}"
        )
    if n_bytes == 0:
        raise ModelError(f"{name}: the file is empty, expected an ONNX model")
    return n_bytes


NOT_ONNX_HINT = "Export with torch.onnx.export or `baselines export`."


def _check_bounds(data: bytes | mmap.mmap, limits: ScanLimits, name: str) -> None:
    """ModelError before parsing when the file holds more than a model of this challenge can
    need, or is not protobuf at all."""
    try:
        scan_model_bytes(data, limits)
    except NotProtobuf as err:
        raise ModelError(
            f"{name}: not an ONNX model (the file does not parse as one: {err}; truncated, or "
            f"another format?). {NOT_ONNX_HINT}"
        ) from None
    except ScanError as err:
        raise ModelError(
            f"{name}: the file holds {err}, more than a model of this challenge may; "
            f"{NOT_ONNX_HINT}"
        ) from None


def _parse(data: bytes, name: str):
    """The ModelProto of `data`; ModelError for anything that is not a complete ONNX model."""
    onnx = require_onnx()

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # protobuf's DecodeError, and whatever its C++ parser raises
        raise ModelError(
            f"{name}: not an ONNX model (the file does not parse as one; truncated, or another "
            f"format?). {NOT_ONNX_HINT}"
        ) from None
    if model.ir_version <= 0 or not model.HasField("graph") or not model.graph.output:
        raise ModelError(
            f"{name}: not an ONNX model (no IR version, graph or output in it; truncated, or "
            f"another format?). {NOT_ONNX_HINT}"
        )
    return model


def _check_valid(model, name: str) -> None:
    onnx = require_onnx()
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        raise ModelError(f"{name}: not a valid ONNX model: {_first_line(err)}") from None
    except UnicodeDecodeError:  # the checker's message quotes bytes of the file that are not text
        raise ModelError(
            f"{name}: not a valid ONNX model: onnx's checker refused it with a message that is "
            "not text (a name or string in the file is not UTF-8)"
        ) from None
    except Exception as err:  # shape inference's InferenceError, and the like
        raise ModelError(
            f"{name}: not a valid ONNX model: {type(err).__name__}: {_first_line(err)}"
        ) from None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return (text.splitlines() or [""])[0][:300]


def _graphs(graph):
    """`graph` and every subgraph in it (the bodies of Loop, If and Scan), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _check_domains(model, domains: frozenset[str]) -> None:
    allowed = ", ".join(repr(d) for d in sorted(domains))
    for opset in model.opset_import:
        if opset.domain not in domains:
            raise ModelError(
                f"the model imports operator domain {opset.domain!r}; only the standard "
                f"domains ({allowed}) can run"
            )
    if len(model.functions):
        raise ModelError(
            f"the model defines its own functions ({model.functions[0].name!r}); only the "
            "standard operators can run"
        )
    for graph in _graphs(model.graph):
        for node in graph.node:
            if node.domain not in domains:
                raise ModelError(
                    f"node {node.name or node.op_type!r} uses operator {node.op_type!r} of "
                    f"domain {node.domain!r}; only the standard domains ({allowed}) can run"
                )


def _tensors(graph):
    """Every tensor stored in `graph`: initializers and the values of Constant-like attributes."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield from (attr.sparse_tensor.values, attr.sparse_tensor.indices)


def _check_no_external_data(model) -> None:
    for graph in _graphs(model.graph):
        for tensor in _tensors(graph):
            if tensor.data_location == 1 or len(tensor.external_data):  # TensorProto.EXTERNAL
                where = {e.key: e.value for e in tensor.external_data}.get("location", "?")
                raise ModelError(
                    f"tensor {tensor.name!r} keeps its data in an external file ({where!r}); "
                    "a model must be one self-contained file (save without external data)"
                )


def _dims(value_info) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in _shape(value_info).dim]


def _shape(value_info):
    tensor = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tensor.HasField("shape"):
        raise ModelError(f"{value_info.name!r} is not a tensor of known rank")
    return tensor.shape


def _check_input(model, record_length: int | None) -> tuple[str, int | None]:
    stored = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in stored]
    if len(inputs) != 1:
        raise ModelError(
            f"the model has {len(inputs)} inputs, expected one: float32 volts (batch, record_length)"
        )
    (value,) = inputs
    if value.type.tensor_type.elem_type != INPUT_TYPE:
        raise ModelError(f"input {value.name!r} is not float32; the volts are float32")
    dims = _dims(value)
    if len(dims) != 2:
        raise ModelError(
            f"input {value.name!r} has {len(dims)} dimensions, expected 2: (batch, record_length)"
        )
    if dims[0] is not None and dims[0] != 0:
        raise ModelError(
            f"input {value.name!r} has a fixed batch size of {dims[0]}; make the first dimension "
            "dynamic (dynamic_axes in torch.onnx.export)"
        )
    length = dims[1]
    if record_length is not None and length is not None and length != record_length:
        raise ModelError(
            f"input {value.name!r} takes records of {length} samples, "
            f"this challenge's records have {record_length}"
        )
    return value.name, length


def _check_output(model) -> tuple[str, tuple[int | None, ...] | None]:
    if len(model.graph.output) != 1:
        raise ModelError(
            f"the model has {len(model.graph.output)} outputs, expected one: a score per record"
        )
    (value,) = model.graph.output
    elem = value.type.tensor_type.elem_type
    if elem not in SCORE_TYPES:
        raise ModelError(f"output {value.name!r} is not float32 or float64 scores")
    has_shape = value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape")
    dims = tuple(_dims(value)) if has_shape else None
    if _wrong_output(dims):  # words of the file alone: also the reason a stored model fails
        raise ModelError(
            f"the model file declares its output as {_declared(dims)}; expected one score per "
            "record, (n,) or (n, 1)"
        )
    return value.name, dims
