"""The public, machine-readable settings of a challenge (public/challenge.json) and the organizer's
rule on simulated training data.
"""

from __future__ import annotations

import json
from pathlib import Path

from challenge import data
from challenge.metrics import ScoreType
from challenge.planning import (
    BASELINE_AUC_CORRELATION,
    CONFIDENCE,
    RESOLVE_TARGET,
    SplitResolution,
)
from challenge.secret import Secret
from challenge.splitting import PUBLIC_FRACTION

# The organizer's rule on training data that teams simulate themselves with the public simulator.
# Allowed by default: the simulator is public, so a ban cannot be enforced or checked, and
# simulated records say nothing about the test labels, which derive from the secret.
TRAINING_DATA_RULES = {
    "allowed": "Teams may also train on records they simulate themselves with the public "
    "simulator (`challenge/simulate.py`, any seed and any settings), besides train.root.",
    "forbidden": "Teams may train only on the records of train.root: records simulated with the "
    "public simulator (`challenge/simulate.py`) or any other generator are not allowed.",
}
DEFAULT_TRAINING_DATA = "allowed"
CHALLENGE_FILE = data.SETTINGS_FILE  # public, machine-readable settings: the leaderboard reads it
DEFAULT_SUBMISSIONS = "predictions"


def challenge_settings(
    n_train: int,
    n_test: int,
    secret: Secret,
    metric: ScoreType,
    simulated_training_data: str,
    resolution: list[SplitResolution],
    auc_source: str,
    submissions: str = DEFAULT_SUBMISSIONS,
) -> dict:
    """The public, machine-readable description of the challenge (public/challenge.json)."""
    return {
        "submissions": submissions,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "public_fraction": PUBLIC_FRACTION,
        "metric": metric.name,
        "public_seed": secret.seed,
        "simulated_training_data": simulated_training_data,
        "simulated_training_data_rule": TRAINING_DATA_RULES[simulated_training_data],
        "resolution": {
            "test": "paired DeLong test, two-sided",
            "confidence": CONFIDENCE,
            "auc_variance": "Hanley & McNeil (1982)",
            "reference_auc": round(resolution[0].auc, 4),
            "reference_auc_source": auc_source,
            "auc_correlation": BASELINE_AUC_CORRELATION,
            "target": RESOLVE_TARGET,
            # Each split's size and resolution, never its class counts: with those, one upload
            # of a few events' tie group reads their labels from its exact AUC (issue 21).
            "splits": {
                r.split: {
                    "events": r.n_carrier + r.n_absorber,
                    "min_auc_difference": round(r.delta, 5),
                }
                for r in resolution
            },
        },
    }


def write_settings(path: Path, settings: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_settings(data_dir: str | Path) -> dict:
    """public/challenge.json of a challenge folder."""
    return json.loads((Path(data_dir) / "public" / CHALLENGE_FILE).read_text(encoding="utf-8"))


def resolution_lines(settings: dict) -> list[str]:
    """One line per split: the smallest AUC difference it resolves; and a warning if needed."""
    res = settings["resolution"]
    lines = [
        f"the {name} split ({s['events']} events) resolves "
        f"AUC differences of {s['min_auc_difference']:.4f} and more"
        for name, s in res["splits"].items()
    ]
    if not res["splits"]["private"]["min_auc_difference"] <= res["target"]:
        lines.append(
            f"warning: the private split cannot resolve an AUC difference of {res['target']}; "
            f"`challenge plan --auc {res['reference_auc']} --delta {res['target']}` says how "
            "many test events would"
        )
    return lines
