"""The bounds that ``challenge.model_scan`` counts on an ONNX file's bytes before it is parsed."""

from __future__ import annotations

import dataclasses

import pytest
from onnx import TensorProto, helper

from challenge.model_scan import ScanError, ScanLimits, scan_model_bytes
from tests import onnx_models as m


def _model_bytes() -> bytes:
    """A Loop model: 6 nodes, 5 tensors (17 bytes of numbers, 2 strings), a graph in a graph."""
    model = m.slow_mean_model(3)
    names = helper.make_tensor("names", TensorProto.STRING, [2], [b"a", b"b"])
    model.graph.initializer.append(names)
    return model.SerializeToString()


# Each bound: what the model holds, and what the scan says of a bound one below it.
HOLDS = {
    "nodes": (6, "more than 5 nodes"),
    "tensors": (5, "more than 4 stored tensors"),
    "strings": (2, "more than 1 strings in its tensors"),
    "graph_depth": (2, "graphs nested more than 1 deep"),
    "elements": (75, "more than 74 fields in its messages"),
    "tensor_bytes": (17, "tensors that declare more than 1.49012e-08 GB together"),
}


def test_every_bound_is_listed():
    assert set(HOLDS) == {f.name for f in dataclasses.fields(ScanLimits)}


@pytest.mark.parametrize("bound", HOLDS)
def test_a_file_at_a_bound_passes_and_one_past_it_is_refused(bound):
    data = _model_bytes()
    held, message = HOLDS[bound]
    scan_model_bytes(data, ScanLimits(**{bound: held}))
    with pytest.raises(ScanError) as refused:
        scan_model_bytes(data, ScanLimits(**{bound: held - 1}))
    assert str(refused.value) == message
