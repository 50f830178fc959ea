"""Classic pulse-shape features fed to gradient-boosted trees: no neural network.

Features per record: height, rise time (10 % -> 90 %), decay time (peak -> 1/e), onset,
baseline RMS and slope, area over height, and the chi² of the fit of each template, which
come from `challenge.matched_filter` (the same fits as the physics reference).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import numpy as np

from baselines.preprocessing import PreprocessingConfig, Preprocessor

FEATURES = (
    "height",
    "rise_time_ms",
    "decay_time_ms",
    "onset_ms",
    "baseline_rms",
    "baseline_slope",
    "area_over_height_ms",
    "chi2_absorber",
    "chi2_carrier",
)


@dataclass
class Hparams:
    max_iter: int = 300
    learning_rate: float = 0.05
    max_leaf_nodes: int = 31
    l2_regularization: float = 1.0
    preprocessing: PreprocessingConfig = field(
        default_factory=lambda: PreprocessingConfig(
            downsample=8, window=(0.0, 1.0)
        )  # 3.1 kHz, whole record
    )


def pulse_shape_features(Z: np.ndarray, *, n_pre: int, sample_period_ms: float) -> np.ndarray:
    """Shape features (n, 7) of baseline-subtracted records Z (n, L); n_pre baseline samples."""
    n, length = Z.shape
    t = np.arange(length)
    pre = Z[:, :n_pre]
    t_pre = t[:n_pre] - (n_pre - 1) / 2
    slope = (pre @ t_pre) / max(float(t_pre @ t_pre), 1.0) / sample_period_ms
    peak = Z[:, n_pre:].argmax(axis=1) + n_pre
    height = Z[np.arange(n), peak]
    h = height[:, None]
    before_peak = t[None, :] <= peak[:, None]
    below_10 = (Z < 0.1 * h) & before_peak
    t10 = np.where(below_10.any(1), length - 1 - below_10[:, ::-1].argmax(1), 0)
    t90 = ((Z >= 0.9 * h) & (t[None, :] >= t10[:, None])).argmax(1)
    decayed = (Z < h / np.e) & (t[None, :] >= peak[:, None])
    t_decay = np.where(decayed.any(1), decayed.argmax(1), length)
    safe_height = np.where(height > 0, height, 1.0)
    return np.column_stack(
        [
            height,
            (t90 - t10) * sample_period_ms,
            (t_decay - peak) * sample_period_ms,
            t10 * sample_period_ms,
            pre.std(axis=1),
            slope,
            Z[:, n_pre:].sum(axis=1) * sample_period_ms / safe_height,
        ]
    )


def template_chi2(X: np.ndarray, metadata: dict) -> np.ndarray:
    """chi² (n, 2) of the absorber and carrier template fits of records X (n, L) in volts."""
    from challenge.matched_filter import fit_templates

    fits = fit_templates(X, metadata=metadata)
    return np.column_stack([fits["absorber"].chi2, fits["carrier"].chi2]).astype(np.float64)


class Model:
    def __init__(self, hp: Hparams) -> None:
        self.hp = hp
        self.preprocessor = Preprocessor(hp.preprocessing)
        self.metadata: dict | None = None
        self.estimator = None

    def features(self, X: np.ndarray) -> np.ndarray:
        """Feature matrix (n, len(FEATURES)) of records X (n, L) in volts."""
        Z = self.preprocessor.transform(X).astype(np.float64)
        cfg = self.preprocessor.config
        shape = pulse_shape_features(
            Z,
            n_pre=max(1, int(cfg.pretrigger_fraction * Z.shape[1])),
            sample_period_ms=1e3 * cfg.downsample / self.metadata["sampling_rate_hz"],
        )
        return np.column_stack([shape, template_chi2(X, self.metadata)])

    def fit(self, X: np.ndarray, y: np.ndarray, metadata: dict, *, seed: int = 0) -> Model:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.metadata = dict(metadata)
        self.preprocessor.fit(X)
        hp = self.hp
        self.estimator = HistGradientBoostingClassifier(
            max_iter=hp.max_iter,
            learning_rate=hp.learning_rate,
            max_leaf_nodes=hp.max_leaf_nodes,
            l2_regularization=hp.l2_regularization,
            early_stopping=True,
            random_state=seed,
        )
        self.estimator.fit(self.features(X), y)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        """Carrier-likeness (n,): the log-odds of the trees."""
        return self.estimator.decision_function(self.features(X)).astype(np.float64)

    def state(self) -> dict:
        return {
            "metadata": self.metadata,
            "preprocessing": self.preprocessor.state_dict(),
            "estimator": pickle.dumps(self.estimator),
        }

    @classmethod
    def from_state(cls, hp: Hparams, state: dict) -> Model:
        model = cls(hp)
        model.metadata = state["metadata"]
        model.preprocessor = Preprocessor.from_state(state["preprocessing"])
        model.estimator = pickle.loads(state["estimator"])  # noqa: S301 - a checkpoint you made
        return model

    @property
    def n_parameters(self) -> int:
        """Tree nodes, the trees' counterpart of a parameter count."""
        return int(sum(p.nodes.size for trees in self.estimator._predictors for p in trees))
