"""Small ONNX models built with onnx.helper for the model-submission tests: one that follows the
contract (its score is the record's mean, an exact reference) and hostile ones: HOSTILE_UPLOADS
lists them with what the leaderboard must answer, for the upload path and the workers alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17
INT64_MAX = 2**63 - 1


def _model(
    nodes, *, output_shape=("n",), initializers=(), opsets=(), out_type=TensorProto.FLOAT,
    length=None,
):  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "hostile",
        [helper.make_tensor_value_info("volts", TensorProto.FLOAT, ["n", length])],
        [helper.make_tensor_value_info("score", out_type, list(output_shape))],
        initializer=list(initializers),
    )
    opset_imports = [helper.make_opsetid("", OPSET), *opsets]
    return helper.make_model(graph, opset_imports=opset_imports, ir_version=8)


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def mean_model(length: int | None = None) -> onnx.ModelProto:
    """score = the mean of each record: follows the contract (records of `length` samples, or
    any length)."""
    node = helper.make_node("ReduceMean", ["volts"], ["score"], axes=[1], keepdims=0)
    return _model([node], length=length)


def shifted_mean_model(offset: float) -> onnx.ModelProto:
    """score = the record's mean + `offset`: a different file for each offset, the same ranking."""
    shift = helper.make_tensor("offset", TensorProto.FLOAT, [], [offset])
    nodes = [
        helper.make_node("ReduceMean", ["volts"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Add", ["mean", "offset"], ["score"]),
    ]
    return _model(nodes, initializers=[shift])


def _counting_loop(trips: int) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    """A Loop node that adds 1 to "v" `trips` times while its condition stays true, and the
    initializers it reads ("trips", "true", "zero")."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "one"], ["v_out"]),
        ],
        "count",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, []),
        ],
        initializer=[helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    initializers = [
        helper.make_tensor("trips", TensorProto.INT64, [], [trips]),
        helper.make_tensor("true", TensorProto.BOOL, [], [True]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
    ]
    return helper.make_node("Loop", ["trips", "true", "zero"], ["v"], body=body), initializers


def slow_mean_model(trips: int) -> onnx.ModelProto:
    """The record's mean after a Loop of `trips` additions (about 1 s per million on one core
    here): a model that follows the contract and is still running when a test acts."""
    loop, initializers = _counting_loop(trips)
    nodes = [
        loop,
        helper.make_node("Mul", ["v", "zero"], ["nothing"]),
        helper.make_node("ReduceMean", ["volts"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Add", ["mean", "nothing"], ["score"]),
    ]
    return _model(nodes, initializers=initializers)


def two_column_model(declared: tuple = ("n", "k")) -> onnx.ModelProto:
    """Outputs the first two samples of each record: shape (n, 2), found only when it runs
    unless the file declares it (``declared`` ("n", 2): refused by the file check)."""
    starts, ends = _ints("starts", [0]), _ints("ends", [2])
    axes = _ints("axes", [1])
    node = helper.make_node("Slice", ["volts", "starts", "ends", "axes"], ["score"])
    return _model([node], output_shape=declared, initializers=[starts, ends, axes])


def declared_two_column_model() -> onnx.ModelProto:
    """two_column_model whose file says so: its output declared (n, 2)."""
    return two_column_model(declared=("n", 2))


def nan_model() -> onnx.ModelProto:
    """The record's mean plus NaN."""
    nan = helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")])
    nodes = [
        helper.make_node("ReduceMean", ["volts"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Add", ["mean", "nan"], ["score"]),
    ]
    return _model(nodes, initializers=[nan])


def huge_allocation_model(n_bytes: int = 50 * 2**30) -> onnx.ModelProto:
    """Fills a float32 tensor of `n_bytes` (50 GB) and adds its sum to the mean."""
    shape = _ints("shape", [n_bytes // 4])
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"]),
        helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
        helper.make_node("ReduceMean", ["volts"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Add", ["mean", "total"], ["score"]),
    ]
    return _model(nodes, initializers=[shape])


def endless_loop_model() -> onnx.ModelProto:
    """A Loop whose trip count is 2**63 - 1 and whose condition stays true."""
    loop, initializers = _counting_loop(INT64_MAX)
    nodes = [
        loop,
        helper.make_node("ReduceMean", ["volts"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Add", ["mean", "v"], ["score"]),
    ]
    return _model(nodes, initializers=initializers)


def external_data_model(location: str = "../../etc/passwd") -> onnx.ModelProto:
    """An initializer whose bytes are 'in' an external file at `location`."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "4"}.items():
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    nodes = [
        helper.make_node("ReduceMean", ["volts"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Add", ["mean", "w"], ["score"]),
    ]
    return _model(nodes, initializers=[weight])


def custom_domain_model(domain: str = "com.evil") -> onnx.ModelProto:
    """A node of operator 'Exfiltrate' in a domain of its own (a custom-op library's)."""
    node = helper.make_node("Exfiltrate", ["volts"], ["score"], domain=domain)
    return _model([node], opsets=[helper.make_opsetid(domain, 1)])


def records(n: int = 50, length: int = 64, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, length)).astype(np.float32)


def _ints(name: str, values: list[int]):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def _mean_of_positive_count(nodes_out: str) -> list:
    """Nodes computing `nodes_out`: int64 [1], the number of records whose mean is positive, a
    number computed from the records (what a model may try to smuggle out in an error)."""
    zero = helper.make_tensor("zero_f", TensorProto.FLOAT, [], [0.0])
    return [
        helper.make_node("ReduceMean", ["volts"], ["means"], axes=[1], keepdims=0),
        helper.make_node("Constant", [], ["zero_f"], value=zero),
        helper.make_node("Greater", ["means", "zero_f"], ["positive"]),
        helper.make_node("Cast", ["positive"], ["positive_i"], to=TensorProto.INT64),
        helper.make_node("ReduceSum", ["positive_i"], [nodes_out], keepdims=1),
    ]


def leaky_error_model() -> onnx.ModelProto:
    """Gathers the record mean at index 1,000,000 + k, k the count of positive records:
    onnxruntime's error quotes the index, so its text would carry k."""
    nodes = _mean_of_positive_count("k")
    nodes += [
        helper.make_node("Add", ["k", "far"], ["index"]),
        helper.make_node("Gather", ["means", "index"], ["picked"], axis=0),
        helper.make_node("Add", ["means", "picked"], ["score"]),
    ]
    return _model(nodes, initializers=[_ints("far", [1_000_000])])


def leaky_shape_model() -> onnx.ModelProto:
    """Outputs the means of the first k records only, k the count of positive records: the
    output's shape would carry k."""
    nodes = _mean_of_positive_count("k")
    nodes.append(helper.make_node("Slice", ["means", "start", "k"], ["score"]))
    return _model(nodes, initializers=[_ints("start", [0])])


def leaky_nan_model() -> onnx.ModelProto:
    """NaN for each record whose mean is positive: a count of NaN would carry their number."""
    nan = helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")])
    zero = helper.make_tensor("zero_f", TensorProto.FLOAT, [], [0.0])
    nodes = [
        helper.make_node("ReduceMean", ["volts"], ["means"], axes=[1], keepdims=0),
        helper.make_node("Constant", [], ["zero_f"], value=zero),
        helper.make_node("Greater", ["means", "zero_f"], ["positive"]),
        helper.make_node("Where", ["positive", "nan", "means"], ["score"]),
    ]
    return _model(nodes, initializers=[nan])


def shape_bits_model(bits: int = 48) -> onnx.ModelProto:
    """Output of rank bits + 1 (declared (n,), as a file that passes the check), whose size
    k + 1 is 1 or 0 by the sign of sample k of the first record: a wrong shape named from the
    run would carry `bits` bits of the test pulses (issue 21's model)."""
    one = helper.make_tensor("one_f", TensorProto.FLOAT, [1], [0.5])
    nodes = [
        helper.make_node("Slice", ["volts", "starts", "ends"], ["head"]),  # (1, bits)
        helper.make_node(
            "Constant",
            [],
            ["zero_f"],
            value=helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        ),  # fmt: skip
        helper.make_node("Greater", ["head", "zero_f"], ["signs"]),
        helper.make_node("Cast", ["signs"], ["signs_i"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["signs_i", "flat"], ["dims"]),  # (bits,)
        helper.make_node("Concat", ["lead", "dims"], ["shape"], axis=0),  # (bits + 1,)
        helper.make_node("ConstantOfShape", ["shape"], ["score"], value=one),
    ]
    initializers = [_ints("starts", [0, 0]), _ints("ends", [1, bits]), _ints("flat", [bits]),
                    _ints("lead", [1])]  # fmt: skip
    return _model(nodes, initializers=initializers)


def failure_kind_model() -> onnx.ModelProto:
    """A failure whose kind is one bit of the pulses: NaN scores when the first sample of the
    first record is negative, else a 16 GB allocation (out of memory)."""
    nan = helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")])
    nodes = [
        helper.make_node("Slice", ["volts", "starts", "ends"], ["first"]),  # (1, 1)
        helper.make_node(
            "Constant",
            [],
            ["zero_f"],
            value=helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        ),  # fmt: skip
        helper.make_node("Greater", ["first", "zero_f"], ["positive"]),
        helper.make_node("Cast", ["positive"], ["positive_i"], to=TensorProto.INT64),
        helper.make_node("Mul", ["positive_i", "big"], ["size2"]),
        helper.make_node("Add", ["size2", "one_i"], ["size"]),
        helper.make_node("Reshape", ["size", "flat"], ["alloc_shape"]),  # (1,)
        helper.make_node("ConstantOfShape", ["alloc_shape"], ["block"]),
        helper.make_node("ReduceSum", ["block"], ["total"], keepdims=0),
        helper.make_node("ReduceMean", ["volts"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Add", ["mean", "total"], ["mean_total"]),
        helper.make_node("Add", ["mean_total", "nan"], ["score"]),
    ]
    # NaN is added either way: only the run that does not run out of memory reaches it.
    initializers = [_ints("starts", [0, 0]), _ints("ends", [1, 1]), _ints("flat", [1]),
                    helper.make_tensor("big", TensorProto.INT64, [1, 1], [4 * 2**30]),
                    helper.make_tensor("one_i", TensorProto.INT64, [1, 1], [1]), nan]  # fmt: skip
    return _model(nodes, initializers=initializers)


def positive_count(X: np.ndarray) -> int:
    """What the leaky models compute: the records whose mean is positive."""
    return int((X.mean(axis=1) > 0).sum())


# The limits that the reasons of HOSTILE_UPLOADS assume (leaderboard settings), small so that
# each case takes seconds. A worker shows every run at a whole tenth of the wall limit
# (jobs.RUN_TIME_STEPS), so each model scored under these limits takes 0.6 s at least: a
# longer wall limit slows every test that scores models (20 s made it 2 s a model).
HOSTILE_LIMITS = {"MODEL_MEMORY_BYTES": 2**30, "MODEL_CPU_S": 2, "MODEL_WALL_S": 6}
# The one reason of a model that failed on the test records after loading, under those limits
# (``challenge.sandbox.private_failure``): it does not say how it failed.
RUN_FAILURE = (
    r"^the model did not give one finite score per test record: it stopped with an error, went "
    r"past a limit \(6 s of wall time, 2 s of CPU time, 1 GB of memory, 64 MB of output\) or "
    r"gave output other than finite scores of shape \(n,\) or \(n, 1\) \(its file declares "
    r"\(\?,\)\); which one is not said, as it can depend on the test pulses: `challenge "
    r"check-model` on the training records shows it$"
)


@dataclass(frozen=True)
class HostileUpload:
    """A hostile model upload and what the leaderboard must answer: 400 with `reason` at upload
    (``status`` 400), or 202 and then a failed row whose public reason matches `reason`."""

    name: str
    data: Callable[[], bytes]
    status: int
    reason: str  # a regular expression for re.search


def _bytes(build: Callable[[], onnx.ModelProto]) -> Callable[[], bytes]:
    return lambda: build().SerializeToString()


def _truncated() -> bytes:
    data = mean_model().SerializeToString()
    return data[: len(data) // 2]


HOSTILE_UPLOADS = [
    HostileUpload("huge_allocation.onnx", _bytes(huge_allocation_model), 202,
                  f"^exceeded the memory limit of 1 GB while loading the model$|{RUN_FAILURE}"),
    HostileUpload("endless_loop.onnx", _bytes(endless_loop_model), 202, RUN_FAILURE),
    HostileUpload("external_data.onnx", _bytes(external_data_model), 400,
                  r"^external_data.onnx: tensor 'w' keeps its data in an external file \('../../etc/passwd'\)"),
    HostileUpload("custom_domain.onnx", _bytes(custom_domain_model), 400,
                  "^custom_domain.onnx: the model imports operator domain 'com.evil'"),
    HostileUpload("two_columns.onnx", _bytes(declared_two_column_model), 400,
                  r"^two_columns.onnx: the model file declares its output as \(\?, 2\); expected "
                  r"one score per record, \(n,\) or \(n, 1\)$"),
    HostileUpload("nan.onnx", _bytes(nan_model), 202, RUN_FAILURE),
    HostileUpload("truncated.onnx", _truncated, 400, "^truncated.onnx: not an ONNX model"),
    HostileUpload("not_onnx.onnx", lambda: b"\x7fELF\x02\x01\x01" + bytes(200), 400,
                  "^not_onnx.onnx: not an ONNX model"),
    HostileUpload("predictions.csv", lambda: b"event_id,score\n1,0.5\n", 400,
                  "^predictions.csv: this challenge takes ONNX models, not prediction files: "
                  "export .*`baselines export"),
]  # fmt: skip
# The last hostile case, a 2 GB file, is refused from its Content-Length before a byte of it is
# read (413); a test sends only the headers of such an upload.
HUGE_UPLOAD_BYTES = 2 * 2**30
