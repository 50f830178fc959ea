"""The data card (public/DATACARD.md): what the data are, files and units, class balance, the
reference AUCs, the metric, what the ranking can tell apart and the rule on training data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from challenge.matched_filter import SMOOTHING_MS
from challenge.metrics import ScoreType
from challenge.model import ModelLimits
from challenge.records import RecordFormat
from challenge.references import LEARN_RECORDS, auc_rows
from challenge.secret import Secret
from challenge.settings import TRAINING_DATA_RULES, resolution_lines


def write_datacard(
    path: Path,
    *,
    title: str,
    description: str,
    fmt: RecordFormat,
    secret: Secret,
    train_labels: np.ndarray,
    truth_columns: list[str],
    references: dict,
    metric: ScoreType,
    settings: dict,
) -> Path:
    """The human-readable description of the data, with the measured reference AUCs."""
    sections = [
        f"# {title}\n",
        _provenance_section(secret),
        "## What the data are\n" + description.strip() + "\n",
        _files_section(fmt, truth_columns, settings["submissions"]),
        _balance_section(train_labels),
        _references_section(references),
        f"## The metric\nThe leaderboard ranks by {metric.label} (`{metric.name}`, "
        f"{'higher' if metric.higher_is_better else 'lower'} is better) on the test events.\n",
        _resolution_section(settings),
        "## Training data\n" + TRAINING_DATA_RULES[settings["simulated_training_data"]] + "\n",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sections), encoding="utf-8")
    return path


def _provenance_section(secret: Secret) -> str:
    if secret.is_public:
        return f"**Warning: {secret.warning()}**\n"
    return (
        "Every random choice (records, event ids, the split of the test set) was derived from a "
        "fresh 128-bit secret that only the organizers hold.\n"
    )


def _files_section(fmt: RecordFormat, truth_columns: list[str], submissions: str) -> str:
    length = fmt.record_length
    if fmt.pulse_dtype == "int16":
        pulse = f"`pulse` (int16[{length}], ADC counts; volts = counts x {fmt.volts_per_count:.9g})"
    else:
        pulse = f"`pulse` (float32[{length}], volts)"
    truth = {"pulse_height": "`pulse_height` (float32, V, true height before saturation)",
             "onset": "`onset` (float32, ms from the record start)"}  # fmt: skip
    extras = [truth.get(name, f"`{name}` (float32)") for name in truth_columns]
    train_has = "`label` (int8)" + "".join(f", {e}" for e in extras)
    if submissions == "models":
        return _models_files_section(pulse, train_has, fmt.record_length)
    return f"""## Files and units
- `train.root`, `test.root` (ROOT, zstd-compressed): TTree `events` with
  `event_id` (int64, random and unique; row order carries no information) and
  {pulse}.
  train.root also has {train_has}.
  A TObjString `metadata` holds a JSON object: sampling rate, record length, volts per count,
  trigger index and the description of the source.
- `sample_submission.csv`: `event_id,score`, one row per test event; higher score = more carrier-like.
  Its scores are random, so it scores about 0.5.
- Read with `challenge.data.load("train")` (event_id, X in volts as float32, y) or with plain uproot.
"""


def _models_files_section(pulse: str, train_has: str, length: int) -> str:
    return f"""## Files and units
- `train.root` (ROOT, zstd-compressed): TTree `events` with `event_id` (int64, random and
  unique; row order carries no information), {pulse} and {train_has}.
  A TObjString `metadata` holds a JSON object: sampling rate, record length, volts per count,
  trigger index and the description of the source.
- Read with `challenge.data.load("train")` (event_id, X in volts as float32, y) or with plain uproot.

## Submissions: a model, run on test pulses you never see
The test pulses stay on the leaderboard's server: there is no test.root to download. Teams
upload a model, which the server's workers run in a sandbox on the test records and score.
The contract (`challenge/model.py`): one ONNX file with one input, float32 volts of shape
(batch, {length}), and one output, a score of shape (batch,) or (batch, 1), higher =
more carrier-like; the preprocessing is part of the graph; only the standard ONNX operator
domains, no external data, at most {ModelLimits.max_bytes // 2**20} MiB (by default).

1. `baselines export runs/cnn/checkpoint.pt -o model.onnx` exports a trained baseline
   (checked against torch on its validation records).
2. `challenge check-model model.onnx --data DIR` runs the server's checks and limits on the
   training records and prints the time per 1,000 records and the training AUC.
3. `challenge submit model.onnx --url URL --token TOKEN` uploads it and waits for its public score.
"""


def _balance_section(train_y: np.ndarray) -> str:
    """The training records' class counts, and their unlabelled records (label -1, imported) if
    any. The test records' stay with the organizers: the public split takes a fixed share of
    each class, so they would give the public split's counts, and with these one upload reads a
    few events' labels (issue 21)."""
    carrier, absorber = int(np.sum(train_y == 1)), int(np.sum(train_y == 0))
    unlabelled = int(np.sum(train_y < 0))
    share = f" ({carrier / (carrier + absorber):.1%})" if carrier + absorber else ""
    head = "| split | events | carrier (label 1) | absorber (label 0) |"
    row = f"| train | {len(train_y)} | {carrier}{share} | {absorber} |"
    rule, note = "|---|---|---|---|", ""
    if unlabelled:
        head, rule, row = head + " unlabelled (label -1) |", rule + "---|", row + f" {unlabelled} |"
        note = (
            "Unlabelled records (label -1, imported) are in train.root only; the carrier share "
            "is of the labelled records. The baselines skip them; a team may use them.\n\n"
        )
    return f"""## Class balance
{head}
{rule}
{row}

{note}The class counts of the test records and of their public and private splits are known to the
organizers only.
"""


def _references_section(references: dict) -> str:
    rows = auc_rows(references)
    return f"""## Reference ROC AUC on the test set (95% DeLong interval)
| score | AUC | interval |
|---|---|---|
{rows}

The physics reference (`challenge.likelihood`, the `matched-filter` baseline) is the likelihood
ratio of carrier against absorber, each integrated over the nuisance parameters: onset (uniform
in the window where the clear pulses' onsets lie), height (log-uniform) and a linear baseline,
with the noise spectrum as covariance. It learns everything from the first {LEARN_RECORDS}
records of train.root: one template per class (the median of aligned, labelled high pulses),
the noise spectrum (pre-trigger baselines) and the onset window; it knows nothing else of the
detector. The plain matched filter fits each template of the public simulator (free height,
onset and linear baseline) and compares the two chi².
The measured pulse height is the maximum of the record smoothed over
{SMOOTHING_MS:g} ms, minus the pre-trigger mean.
"""


def _resolution_section(settings: dict) -> str:
    res = settings["resolution"]
    lines = "\n".join(f"- {line}" for line in resolution_lines(settings))
    return f"""## What the ranking can tell apart
{lines}

Computed for a paired DeLong test at {res["confidence"]:.0%} (two-sided), at an AUC of
{res["reference_auc"]} ({res["reference_auc_source"]}), with the variance of Hanley & McNeil,
Radiology 143 (1982) 29, for these class counts, and a correlation of {res["auc_correlation"]}
between two submissions' AUC estimates (measured between the project's baselines `mlp` and `cnn`).
Two submissions closer than this are not told apart by the data.
"""
