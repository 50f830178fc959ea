"""Export a trained torch baseline to one ONNX file with its preprocessing in the graph.

The file follows the model contract of `challenge.model`: float32 volts (batch, record_length)
in, a score (batch,) out. The export is checked against `TrainedModel.predict` on the records it
is given (the validation records) before it is written.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from baselines.checkpoint import TrainedModel

# Between onnxruntime's and torch's scores on the same records: absolute up to |score| 1, relative
# beyond, since float32 resolves a score of 300 (a trained logit's) only to 3e-5 and the two
# sum a layer's products in different orders.
MAX_ABS_DIFFERENCE = 1e-4
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "volts", "score"


class ExportError(ValueError):
    """A checkpoint that cannot be exported, or an export that disagrees with torch."""


class ExportedModel(nn.Module):
    """Records in volts (n, L) -> scores (n,): preprocessing, then the network's `score`."""

    def __init__(self, trained: TrainedModel) -> None:
        super().__init__()
        self.preprocessing = trained.preprocessor.graph()  # the transform of training time
        self.net = trained.model

    def forward(self, volts: torch.Tensor) -> torch.Tensor:
        return self.net.score(self.preprocessing(volts))


def export_onnx(trained: TrainedModel, X_check: np.ndarray) -> tuple[bytes, float]:
    """The ONNX bytes of `trained` and the largest difference of its scores from torch's on
    records X_check (n, L), relative to their largest |score| beyond 1 (``scaled_difference``);
    ExportError if it
    cannot be exported or differs by more than MAX_ABS_DIFFERENCE."""
    if not isinstance(trained.model, nn.Module):
        raise ExportError(_not_torch_message(trained.name))
    module = ExportedModel(trained).cpu().eval()
    example = torch.zeros(2, trained.preprocessor.record_length)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript; these models are a straight line of layers, which it exports exactly
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (example,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    model = buffer.getvalue()
    difference = _max_difference(model, trained, X_check)
    if not difference <= MAX_ABS_DIFFERENCE:
        raise ExportError(
            f"the exported {trained.name} differs from torch by {difference:.3g} on "
            f"{len(X_check)} records, more than the {MAX_ABS_DIFFERENCE:g} allowed (relative to "
            "the largest |score| where it exceeds 1)"
        )
    return model, difference


def write_onnx(model: bytes, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model)
    return path


def _max_difference(model: bytes, trained: TrainedModel, X: np.ndarray) -> float:
    from challenge.model import check_scores
    from challenge.onnx_runner import make_session, run_batches

    X = np.ascontiguousarray(X, dtype=np.float32)
    output = run_batches(make_session(model), X)
    return scaled_difference(check_scores(output, len(X)), trained.predict(X))


def scaled_difference(scores: np.ndarray, reference: np.ndarray) -> float:
    """max |scores - reference| over the records (n,), divided by the largest |reference| where
    it exceeds 1: float32 sums err by a share of their terms, which the largest score measures,
    not a record's own score (one near 0 of a logit whose scores reach 1,000 sums terms of
    hundreds)."""
    scale = max(1.0, float(np.max(np.abs(reference), initial=0.0)))
    return float(np.max(np.abs(scores - reference), initial=0.0)) / scale


def _not_torch_message(name: str) -> str:
    if name == "bdt":
        return (
            "bdt cannot be exported: its trees would convert (skl2onnx), but its features "
            "would not: the template chi2 fits (FFTs over a grid of onsets) and the rise and "
            "decay times (thresholds and argmax per record) would be a second implementation "
            "of baselines/models/bdt.py in ONNX operators. Export a torch baseline (logit, "
            "mlp, cnn, vae, gan, starter)."
        )
    return f"{name} is a reference, not a trained model: only torch baselines export to ONNX"
