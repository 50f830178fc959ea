"""Baselines for the dark-matter challenge: torch models, a classical and a physics reference.

- `baselines.preprocessing`: the one transform of records (baseline, window, downsampling, scale)
- `baselines.models`: one module per model (logit, mlp, cnn, vae, gan, starter, bdt, matched_filter)
- `baselines.train`: the one training loop (Adam, validation split, early stopping)
- `baselines.checkpoint`: a trained model, its checkpoint file and its predictions
- `baselines.plots`: figures: ROC curves, training curves, pulses per class
- `baselines.report`: validation AUC with DeLong interval, report.json and the compare table
- `baselines.export`: a torch baseline and its preprocessing as one ONNX file
- `baselines.cli`: the `baselines` command (train, predict, compare, export)
"""

from __future__ import annotations

from challenge.extras import require_extra

require_extra("baselines")  # torch and scikit-learn: a missing one names the pip command
