"""Small ONNX models built with onnx.helper for the model-submission tests: one that follows the
contract (its score is the record's mean, an exact reference) and hostile ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17
INT64_MAX = 2**63 - 1


def _model(nodes, *, output_shape=("n",), initializers=(), opsets=(), out_type=TensorProto.FLOAT):
    graph = helper.make_graph(
        nodes,
        "hostile",
        [helper.make_tensor_value_info("volts", TensorProto.FLOAT, ["n", None])],
        [helper.make_tensor_value_info("score", out_type, list(output_shape))],
        initializer=list(initializers),
    )
    opset_imports = [helper.make_opsetid("", OPSET), *opsets]
    return helper.make_model(graph, opset_imports=opset_imports, ir_version=8)


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def mean_model() -> onnx.ModelProto:
    """score = the mean of each record: follows the contract."""
    return _model([helper.make_node("ReduceMean", ["volts"], ["score"], axes=[1], keepdims=0)])


def two_column_model() -> onnx.ModelProto:
    """Outputs the first two samples of each record: shape (n, 2)."""
    starts, ends = _ints("starts", [0]), _ints("ends", [2])
    axes = _ints("axes", [1])
    node = helper.make_node("Slice", ["volts", "starts", "ends", "axes"], ["score"])
    return _model([node], output_shape=("n", 2), initializers=[starts, ends, axes])


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
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "one"], ["v_out"]),
        ],
        "forever",
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
    inits = [
        helper.make_tensor("trips", TensorProto.INT64, [], [INT64_MAX]),
        helper.make_tensor("true", TensorProto.BOOL, [], [True]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
    ]
    nodes = [
        helper.make_node("Loop", ["trips", "true", "zero"], ["v"], body=body),
        helper.make_node("ReduceMean", ["volts"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Add", ["mean", "v"], ["score"]),
    ]
    return _model(nodes, initializers=inits)


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
