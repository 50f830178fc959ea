"""The model contract's static check (challenge.model): what is refused before a model runs, and the
check of a model's output."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from challenge.model import ModelError, ModelLimits, check_model_file, check_scores
from tests import onnx_models as m


def test_a_model_that_follows_the_contract_is_accepted(tmp_path):
    info = check_model_file(m.save(m.mean_model(), tmp_path / "ok.onnx"), record_length=64)
    assert (info.input_name, info.output_name, info.record_length) == ("volts", "score", None)
    assert info.opset == m.OPSET


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            m.external_data_model,
            "tensor 'w' keeps its data in an external file ('../../etc/passwd')",
        ),
        (m.custom_domain_model, "the model imports operator domain 'com.evil'"),
    ],
)
def test_external_data_and_custom_domains_are_refused(tmp_path, build, message):
    with pytest.raises(ModelError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        check_model_file(m.save(build(), tmp_path / "bad.onnx"))


def test_a_node_of_another_domain_is_refused_even_without_its_opset_import(tmp_path):
    model = m.custom_domain_model()
    del model.opset_import[1:]
    with pytest.raises(ModelError, match="operator 'Exfiltrate' of domain 'com.evil'"):
        check_model_file(m.save(model, tmp_path / "bad.onnx"))


def test_external_data_inside_a_loop_body_is_refused(tmp_path):
    model = m.endless_loop_model()
    body = model.graph.node[0].attribute[0].g
    tensor = body.initializer[0]
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "/etc/shadow"
    with pytest.raises(ModelError, match="external file \\('/etc/shadow'\\)"):
        check_model_file(m.save(model, tmp_path / "bad.onnx"))


def test_ml_domain_is_standard_but_a_local_function_is_refused(tmp_path):
    model = m.mean_model()
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    check_model_file(m.save(model, tmp_path / "ml.onnx"))
    fn = helper.make_function("", "Mine", ["x"], ["y"], [helper.make_node("Abs", ["x"], ["y"])],
                              [helper.make_opsetid("", m.OPSET)])  # fmt: skip
    model.functions.append(fn)
    with pytest.raises(ModelError, match="defines its own functions \\('Mine'\\)"):
        check_model_file(m.save(model, tmp_path / "fn.onnx"))


def test_a_2_gb_file_is_refused_by_its_size_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.onnx"
    with path.open("wb") as f:
        f.truncate(2 * 2**30)  # sparse: no disk space, no time
    monkeypatch.setattr("pathlib.Path.read_bytes", lambda self: pytest.fail("read the file"))
    with pytest.raises(
        ModelError,
        match=r"2,147,483,648 bytes \(2147.5 MB\), over the limit of a model file, 50,000,000 bytes",
    ):
        check_model_file(path)


def test_the_size_limit_is_inclusive(tmp_path):
    path = m.save(m.mean_model(), tmp_path / "ok.onnx")
    size = path.stat().st_size
    check_model_file(path, limits=ModelLimits(max_bytes=size))
    with pytest.raises(ModelError, match="over the"):
        check_model_file(path, limits=ModelLimits(max_bytes=size - 1))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"event_id,score\n1,0.5\n2,0.25\n",  # a prediction file where a model was expected
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        b"\x08\x07",  # parses as a ModelProto (ir_version 7) with no graph
        "truncated",
    ],
)
def test_files_that_are_not_complete_onnx_models_are_refused(tmp_path, content):
    if content == "truncated":
        data = m.endless_loop_model().SerializeToString()
        content = data[: len(data) // 2]
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="^model.onnx: (not an ONNX model|the file is empty)"):
        check_model_file(path)


def _with_input(value_info) -> onnx.ModelProto:
    model = m.mean_model()
    model.graph.input[0].CopyFrom(value_info)
    return model


@pytest.mark.parametrize(
    ("value_info", "message"),
    [
        (helper.make_tensor_value_info("volts", TensorProto.DOUBLE, ["n", 64]), "is not float32"),
        (helper.make_tensor_value_info("volts", TensorProto.FLOAT, ["n"]), "has 1 dimensions"),
        (helper.make_tensor_value_info("volts", TensorProto.FLOAT, [8, 64]), "fixed batch size of 8"),
        (helper.make_tensor_value_info("volts", TensorProto.FLOAT, [1, 64]), "fixed batch size of 1"),
        (helper.make_tensor_value_info("volts", TensorProto.FLOAT, ["n", 32]), "records of 32 samples, this challenge's records have 64"),
    ],
)  # fmt: skip
def test_the_input_must_be_float32_batch_by_record_length(tmp_path, value_info, message):
    path = m.save(_with_input(value_info), tmp_path / "in.onnx")
    with pytest.raises(ModelError, match=message):
        check_model_file(path, record_length=64)


def test_two_inputs_are_refused(tmp_path):
    model = m.mean_model()
    model.graph.input.append(helper.make_tensor_value_info("labels", TensorProto.FLOAT, ["n"]))
    with pytest.raises(ModelError, match="has 2 inputs, expected one"):
        check_model_file(m.save(model, tmp_path / "two.onnx"))


def test_scores_are_n_or_n_by_1_of_finite_floats():
    np.testing.assert_array_equal(check_scores(np.float32([[1], [2]]), 2), [1.0, 2.0])
    assert check_scores(np.float32([1, 2]), 2).dtype == np.float64
    with pytest.raises(
        ModelError, match=r"^output has shape \(n, 2\), expected \(n,\) or \(n, 1\)"
    ):
        check_scores(np.zeros((3, 2), np.float32), 3)
    with pytest.raises(ModelError, match=r"output has shape \(4,\), expected"):
        check_scores(np.zeros(4, np.float32), 3)
    with pytest.raises(ModelError, match="2 non-finite scores .* the first at record 1;"):
        check_scores(np.float32([0, np.nan, np.inf]), 3)
    with pytest.raises(ModelError, match="output has type int64"):
        check_scores(np.arange(3), 3)
