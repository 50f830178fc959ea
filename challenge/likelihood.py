"""The physics reference: a likelihood ratio carrier/absorber marginalised over the nuisance parameters.

For each class the record is modelled as height x template(onset) + offset + slope + Gaussian
noise of one spectrum. The ratio integrates the likelihood over the priors of onset (uniform in
a window), height (log-uniform, or a power law) and slope (flat); offsets drop out with the DC
bin. All onsets at once by FFT correlation with a few SVD basis templates per class.
``learn_reference`` learns templates, noise spectrum and onset window from labelled training
records: the physics reference of every challenge, simulated or imported. ``oracle_reference``
takes them from the simulator's settings instead (with Gauss-Hermite nodes over the time-constant
jitter): the evaluator's bound, which knows the organizers' detector.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from challenge.detector import SHAPES, Detector
from challenge.matched_filter import (
    _inner,
    _whitening,
    detector_from_metadata,
    estimate_noise_psd,
    fit_templates,
    learn_templates,
    record_format_metadata,
)
from challenge.simulate import (
    SimulationConfig,
    energy_share,
    pulse_shapes,
    run_curve,
    unit_pulses,
)

GH_NODES = 3  # Gauss-Hermite nodes per time constant: 27 templates per class
# The oracle's bank over a shape continuum: nodes of the hidden position (Gauss-Legendre) and
# of the run time (equal cells), and the time-constant jitter only through them (it is a few
# percent, against tens of percent across the continuum): 14 templates per class, about the
# cost of the 27 of the jitter alone; where a class shares energy with the other crystal, the
# positions where the share ramps get SHARE_NODES more (26 templates per class).
POSITION_NODES = 7
SHARE_NODES = 6
DRIFT_NODES = 2
ORACLE_GH_NODES = 1
# records per FFT batch: its arrays stay in the cache, so that two workers scoring at once do not
# wait on memory (19% slower each with 256 records a batch, 6% with 32; alone a little faster)
BATCH_SIZE = 32
SVD_TOLERANCE = 1e-10  # basis templates kept: relative residual energy of the bank below this
HEIGHT_TABLE_STEPS = 8  # table of the height integral: steps per likelihood width near threshold
LAPLACE_WIDTHS = 16.0  # above threshold + this many widths the height prior is taken at the peak
WIDE_ONSET_FRACTION = 0.5  # learned path: onsets first searched within this fraction of the trigger
ONSET_TAIL = 0.05  # learned path: the window is that of a uniform law with these onset quantiles
CLEAR_PULSE_SIGMAS = 20.0  # learned path: pulses this many amplitude widths high fix the window


@dataclass(frozen=True)
class Priors:
    """The nuisance priors (heights in volts, times in ms); alpha = 0 is a log-uniform height."""

    onset_ms: tuple[float, float]  # uniform onset window, ms from the record start
    tau_jitter: float  # log-normal spread of each time constant
    height_min_v: float
    height_max_v: float
    height_alpha: float  # dN/dh ~ h^-(1 + alpha)


def priors_from_config(config: SimulationConfig) -> Priors:
    """The priors with which the simulator draws the records of ``config``: the onset window
    holds the jitter and the trigger's time walk (small pulses start up to time_walk_ms early),
    as ``challenge.simulate.draw_onsets`` bounds them; the absorber's height spectrum."""
    detector = config.detector
    trigger_ms = detector.trigger_index * 1000.0 / detector.sampling_rate_hz
    jitter = min(config.onset_jitter_ms, 0.4 * trigger_ms)
    walk = min(config.time_walk_ms, 0.4 * trigger_ms)
    return Priors((trigger_ms - jitter - walk, trigger_ms + jitter), config.tau_jitter,
                  config.height_min_v, config.height_max_v, config.height_alpha)  # fmt: skip


@dataclass
class Reference:
    """Everything the ratio needs: the detector, the priors, a template bank per class, the noise."""

    detector: Detector
    priors: Priors
    banks: dict[int, tuple[np.ndarray, np.ndarray]]  # label -> (templates (K, L), log weights (K,))
    noise_psd: np.ndarray | None = None  # (L // 2 + 1,) V^2/Hz; None: the detector's own

    def state(self) -> dict:
        """Plain lists and numbers (for a checkpoint) of a reference with one template per class."""
        return {
            "priors": asdict(self.priors),
            "templates": [self.banks[c][0][0].tolist() for c in SHAPES],
            "noise_psd": None if self.noise_psd is None else self.noise_psd.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict, *, metadata: dict) -> Reference:
        priors = state["priors"]
        priors = Priors(**{**priors, "onset_ms": tuple(priors["onset_ms"])})
        banks = {c: (np.asarray(t, dtype=float)[None, :], np.zeros(1))
                 for c, t in zip(SHAPES, state["templates"], strict=True)}  # fmt: skip
        psd = state["noise_psd"]
        psd = None if psd is None else np.asarray(psd, dtype=float)
        detector = detector_from_metadata(record_format_metadata(metadata))
        return cls(detector, priors, banks, psd)

    def shifts(self) -> np.ndarray:
        """Onset samples of the uniform onset prior, (S,)."""
        fs = self.detector.sampling_rate_hz
        lo, hi = (int(np.ceil(t * fs / 1000.0 - 1e-9)) for t in self.priors.onset_ms)
        lo = max(lo, 0)
        return np.arange(lo, max(hi, lo) + 1)


def gauss_hermite(n: int, sigma: float, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (n^dims, dims) and log weights of a normal N(0, sigma^2) in ``dims`` dimensions."""
    x, w = np.polynomial.hermite_e.hermegauss(n)  # probabilists' Hermite: weight exp(-x^2 / 2)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * dims), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1) * sigma
    log_w = sum(np.log(g.ravel()) for g in np.meshgrid(*([w] * dims), indexing="ij"))
    return nodes, log_w


def oracle_bank(
    config: SimulationConfig, label: int, priors: Priors, *, last_shift: int
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-height templates (K, L) of class ``label`` with onset at sample 0, as the simulator
    draws them (``challenge.simulate.pulse_shapes``, ``energy_share`` and ``unit_pulses``,
    read-out filter included), over nodes of the hidden position, of the run time
    (operating-point drift) and of the time-constant jitter; and their log weights (K,). Where
    the class shares energy with the other crystal, the highest positions get nodes of their
    own (SHARE_NODES), each template mixed with the other class's pulse as the simulator mixes
    it. Cut where the latest onset meets the end."""
    continuum = any(any(row) for row in (*config.position_response,
                                         *config.operating_point_response))  # fmt: skip
    u, w_u = _position_nodes(config, label, POSITION_NODES if continuum else 1)
    n_times = DRIFT_NODES if continuum else 1
    run_time = (np.arange(n_times) + 0.5) / n_times  # the middles of equal cells of the run
    z, log_w_z = gauss_hermite(ORACLE_GH_NODES if continuum else GH_NODES, priors.tau_jitter, 3)
    grid_u, grid_t = np.meshgrid(u, run_time, indexing="ij")
    log_w_ut = np.log(np.repeat(w_u, len(run_time)) / len(run_time))
    operating_point = run_curve(config.operating_point_drift, grid_t.ravel())
    labels = np.full(grid_u.size, label, dtype=np.int8)
    position = grid_u.ravel()
    still = replace(config, tau_jitter=0.0)  # the jitter comes from the Gauss-Hermite nodes
    detector = config.detector
    bank = 0.0
    share = energy_share(labels, position, config)
    for cls, part in ((labels, 1.0 - share), (1 - labels, share)):  # own pulse, the other's
        params = pulse_shapes(cls, np.random.default_rng(0), still, position=position,
                              operating_point=operating_point)  # fmt: skip
        params = np.repeat(params, len(z), axis=0)  # (U T Z, 5)
        params[:, 2:] *= np.exp(np.tile(z, (grid_u.size, 1)))
        pulses = unit_pulses(params, np.zeros(len(params)), detector.times_ms(),
                             detector.lowpass_tau_ms).astype(float)  # fmt: skip
        bank = bank + np.repeat(part, len(z))[:, None] * pulses
    log_w = (log_w_ut[:, None] + log_w_z[None, :]).ravel()
    bank[:, detector.record_length - last_shift :] = 0.0
    return bank, log_w


def _position_nodes(
    config: SimulationConfig, label: int, nodes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes of the hidden position in [-1/2, 1/2] and their weights (summing to 1): Gauss-
    Legendre, on the positions without energy sharing (``nodes``) and, where the class shares
    energy, on the highest mixing_fraction of them, where the share ramps (SHARE_NODES)."""
    fraction = float(config.mixing_fraction[label]) if config.mixing_max[label] > 0 else 0.0
    cut = 0.5 - fraction
    segments = [(-0.5, cut, nodes)] if cut > 0 else []
    if fraction > 0:
        segments.append((max(cut, -0.5), 0.5, SHARE_NODES))
    u, w = [], []
    for lo, hi, n in segments:
        x, wx = np.polynomial.legendre.leggauss(n)
        u.append(lo + (hi - lo) * (x + 1.0) / 2.0)
        w.append(wx / 2.0 * (hi - lo))
    return np.concatenate(u), np.concatenate(w)


def oracle_reference(config: SimulationConfig) -> Reference:
    """The evaluator's oracle: the ratio with the detector, noise spectrum and priors that drew
    the records. On the organizers' detector no team knows these: it bounds what a method can
    reach (private/CEILING.md), and is never a participant's reference (``learn_reference``)."""
    priors = priors_from_config(config)
    # the mean spectrum of noise whose level varies log-normally from record to record
    psd = config.detector.noise_psd() * np.exp(2.0 * config.noise_level_spread**2)
    ref = Reference(config.detector, priors, {}, psd)
    last = int(ref.shifts()[-1])
    ref.banks = {c: oracle_bank(config, c, priors, last_shift=last) for c in SHAPES}
    return ref


def learn_reference(X: np.ndarray, y: np.ndarray, *, metadata: dict) -> Reference:
    """The physics reference learned from labelled training records X (n, L) in volts.

    The one reference of simulated and imported data alike: of the metadata it reads only the
    record format (``record_format_metadata``), never the simulator's settings, so it knows
    nothing of the detector but what the records show. Templates (one per class) and the noise
    spectrum come from challenge.matched_filter's learn_templates and estimate_noise_psd. The
    onset window comes from the onsets fitted to clear pulses; heights are log-uniform between
    one amplitude width and the largest fitted amplitude. The shape spread is already in the
    data: no extra bank.
    """
    metadata = record_format_metadata(metadata)
    detector = detector_from_metadata(metadata)
    templates = learn_templates(X, y, metadata=metadata)
    psd = estimate_noise_psd(X, metadata=metadata)
    width = amplitude_width(detector, templates["absorber"], psd)
    window, top = learned_onset_window(X, metadata, templates, psd, width)
    priors = Priors(window, 0.0, width, max(top, 2.0 * width), 0.0)
    ref = Reference(detector, priors, {}, psd)
    last = int(ref.shifts()[-1])
    for label, shape in SHAPES.items():
        tpl = np.asarray(templates[shape.name], dtype=float).copy()
        tpl[detector.record_length - last :] = 0.0  # no circular shift wraps a tail around
        ref.banks[label] = (tpl[None, :], np.zeros(1))
    return ref


def learned_onset_window(
    X: np.ndarray, metadata: dict, templates: dict, psd: np.ndarray, width: float
) -> tuple[tuple[float, float], float]:
    """Onset window (ms) of clear pulses in X (n, L): the uniform law whose ONSET_TAIL and
    1 - ONSET_TAIL quantiles are those of their fitted onsets; and the largest fitted amplitude. Onsets are first searched within WIDE_ONSET_FRACTION
    of the pre-trigger length around the trigger."""
    metadata = record_format_metadata(metadata)
    detector = detector_from_metadata(metadata)
    dt_ms = 1000.0 / detector.sampling_rate_hz
    trig = detector.trigger_index
    tail = max(int(np.flatnonzero(np.asarray(t) != 0)[-1]) for t in templates.values())
    half = max(1, min(int(WIDE_ONSET_FRACTION * trig), detector.record_length - 1 - tail - trig))
    fits = fit_templates(
        X, metadata=metadata, templates=templates, noise_psd=psd,
        shifts=np.arange(trig - half, trig + half + 1),
    )  # fmt: skip
    onset = np.concatenate([f.onset_ms for f in fits.values()])
    amp = np.concatenate([f.amplitude for f in fits.values()])
    clear = amp > CLEAR_PULSE_SIGMAS * width
    if clear.sum() < 10:
        raise ValueError(
            f"only {int(clear.sum())} fitted pulses above {CLEAR_PULSE_SIGMAS:g} amplitude widths "
            f"({width:.3g} V) to find the onset window from; need 10"
        )
    lo, hi = np.quantile(onset[clear], [ONSET_TAIL, 1.0 - ONSET_TAIL])
    margin = ONSET_TAIL * (hi - lo) / (1.0 - 2.0 * ONSET_TAIL)  # robust to a few wild fits
    return (float(lo - margin - dt_ms), float(hi + margin + dt_ms)), float(amp.max())


def amplitude_width(detector: Detector, tpl: np.ndarray, psd: np.ndarray | None) -> float:
    """The likelihood width (V) of the height of template ``tpl`` (L,), the slope fitted too."""
    white = _whitening(detector, psd)
    length = detector.record_length
    t_hat, b_hat = np.fft.rfft(tpl), np.fft.rfft(white.slope)
    tt, bb = _inner(t_hat, t_hat, white.weight, length), _inner(b_hat, b_hat, white.weight, length)
    tb = _inner(t_hat, b_hat, white.weight, length)
    return float(1.0 / np.sqrt(tt - tb**2 / bb))


def log_height_prior(a: np.ndarray, priors: Priors) -> np.ndarray:
    """log p(a) of the truncated power law on [height_min_v, height_max_v]; -inf outside."""
    lo, hi, alpha = priors.height_min_v, priors.height_max_v, priors.height_alpha
    norm = np.log(alpha / (lo**-alpha - hi**-alpha)) if alpha > 0 else -np.log(np.log(hi / lo))
    inside = (a >= lo) & (a <= hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inside, norm - (1.0 + alpha) * np.log(np.where(inside, a, 1.0)), -np.inf)


class HeightIntegral:
    """log of the integral over a of p(a) N(a; mean, width^2), for widths in [w_lo, w_hi].

    In the standardised distance x = (mean - lo) / width the integral is the integral over t of
    p(lo + width t) phi(t - x). Near threshold it comes from two tables over x (1 /
    HEIGHT_TABLE_STEPS apart), made at w_lo and w_hi and interpolated linearly in the width, each
    entry by the trapezoid rule on heights from the threshold up; far above the threshold p(mean)
    with its second-order Laplace correction; far below it p(lo) times the Gaussian tail above lo.
    """

    def __init__(self, priors: Priors, w_lo: float, w_hi: float | None = None):
        self.priors = priors
        self.w_lo, self.w_hi = w_lo, w_lo if w_hi is None else w_hi
        self.x_grid = np.arange(-6.0, LAPLACE_WIDTHS, 1.0 / HEIGHT_TABLE_STEPS)
        self.tables = [self._table(w) for w in (self.w_lo, self.w_hi)]

    def _table(self, width: float) -> np.ndarray:
        t = np.linspace(0.0, LAPLACE_WIDTHS + 10.0, 40 * int(LAPLACE_WIDTHS + 10) + 1)
        log_terms = log_height_prior(self.priors.height_min_v + width * t, self.priors)[None, :]
        log_terms = log_terms - 0.5 * (t - self.x_grid[:, None]) ** 2
        cell = np.full(len(t), t[1] - t[0])
        cell[[0, -1]] *= 0.5  # trapezoid weights
        return _logsumexp(log_terms + np.log(cell), axis=1) - 0.5 * np.log(2.0 * np.pi)

    def __call__(self, mean: np.ndarray, width: np.ndarray) -> np.ndarray:
        from scipy.special import log_ndtr

        lo, hi, alpha = self.priors.height_min_v, self.priors.height_max_v, self.priors.height_alpha
        x = (mean - lo) / width
        depth = np.maximum(-x, 1.0)  # the prior's decay over the tail's length width / depth
        tail = log_height_prior(np.array(lo), self.priors) + log_ndtr(x)
        tail -= np.log1p((1.0 + alpha) * width / (depth * lo))
        peak = np.clip(mean, lo, hi)
        laplace = log_height_prior(peak, self.priors)
        laplace += (1 + alpha) * (2 + alpha) * width**2 / (2 * peak**2)
        span = self.w_hi - self.w_lo
        f = (width - self.w_lo) / span if span > 0 else 0.0
        inside = (1 - f) * np.interp(x, self.x_grid, self.tables[0]) + f * np.interp(
            x, self.x_grid, self.tables[1]
        )
        return np.where(x < self.x_grid[0], tail, np.where(x < self.x_grid[-1], inside, laplace))


def log_height_integral(mean: np.ndarray, width: float, priors: Priors) -> np.ndarray:
    """log of the integral over a of p(a) N(a; mean, width^2) for an array of means."""
    mean = np.asarray(mean, dtype=float)
    return HeightIntegral(priors, width)(mean, np.full(mean.shape, width))


def _logsumexp(a: np.ndarray, axis) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top, axis)


class _ClassTerms:
    """Shift-independent pieces of one class: SVD basis, its coefficients and the couplings."""

    def __init__(self, bank, log_w, white, shifts, length, priors: Priors):
        # SVD of the bank from its small Gram matrix: bank = coef @ basis, basis orthonormal.
        eigval, eigvec = np.linalg.eigh(bank @ bank.T)  # ascending
        eigval, eigvec = np.clip(eigval[::-1], 0.0, None), eigvec[:, ::-1]
        residual = 1.0 - np.cumsum(eigval) / eigval.sum()  # energy left after rank r + 1
        rank = 1 + int(np.sum(residual[:-1] > SVD_TOLERANCE))
        sv = np.sqrt(eigval[:rank])
        basis = (eigvec[:, :rank].T @ bank) / sv[:, None]  # (r, L)
        self.basis_hat = np.fft.rfft(basis, axis=1)  # (r, F)
        self.coef = eigvec[:, :rank] * sv  # (K, r): template k = coef[k] @ basis
        w = white.weight
        t_hat = np.fft.rfft(bank, axis=1)  # (K, F)
        b_hat = np.fft.rfft(white.slope)
        self.bb = _inner(b_hat, b_hat, w, length)
        tb = np.fft.irfft(b_hat[None, :] * np.conj(t_hat) * w, n=length, axis=1)[:, shifts]
        tt = np.array([_inner(t, t, w, length) for t in t_hat])  # (K,)
        self.tb = tb  # (K, S)
        self.q = tt[:, None] - tb**2 / self.bb  # (K, S): inverse variance of the height
        self.log_w = log_w
        self.shifts = shifts
        self._height = [HeightIntegral(priors, q.max() ** -0.5, q.min() ** -0.5) for q in self.q]

    def _projections(self, y_hat, by, white, length) -> np.ndarray:
        """u (n, K, S): the template correlations with the slope projected out."""
        yw = y_hat * white.weight
        cb = np.stack(
            [
                np.fft.irfft(yw * np.conj(b), n=length, axis=-1)[:, self.shifts]
                for b in self.basis_hat
            ],
            axis=1,
        )  # (n, r, S): correlation with each basis template at every onset
        cy = np.einsum("kr,nrs->nks", self.coef, cb)  # (n, K, S)
        return cy - self.tb[None] * (by[:, None, None] / self.bb)

    def log_evidence(self, y_hat, by, white, length, priors) -> np.ndarray:
        """log p(y | class) up to class-independent terms, (n,)."""
        u, q = self._projections(y_hat, by, white, length), self.q[None]
        widths = 1.0 / np.sqrt(self.q)  # (K, S)
        height = np.stack([self._height[k](u[:, k] / q[:, k], widths[k]) for k in range(len(widths))],
                          axis=1)  # fmt: skip
        terms = u**2 / (2.0 * q) - 0.5 * np.log(q) + height
        terms += self.log_w[None, :, None] - np.log(len(self.shifts))
        return _logsumexp(terms.reshape(len(y_hat), -1), axis=1)

    def log_likelihood_known(self, y_hat, by, white, length, shift, height) -> np.ndarray:
        """log p(y | class, onset sample index ``shift`` (n,), ``height`` (n,)), (n,)."""
        rows = np.arange(len(y_hat))
        u = self._projections(y_hat, by, white, length)[rows, :, shift]  # (n, K)
        q = self.q[:, shift].T  # (n, K)
        terms = height[:, None] * u - 0.5 * height[:, None] ** 2 * q + self.log_w[None, :]
        return _logsumexp(terms, axis=1)


class LikelihoodRatio:
    """log p(X | carrier) - log p(X | absorber) of one reference, with its shift-independent
    terms (whitening, SVD bases, couplings, height tables) prepared once for all the batches it
    scores: for the oracle's bank of shapes they cost as much as scoring a thousand records."""

    def __init__(self, ref: Reference):
        self.ref = ref
        self.white = _whitening(ref.detector, ref.noise_psd)
        self.shifts = ref.shifts()
        length = ref.detector.record_length
        self.terms = {
            c: _ClassTerms(*ref.banks[c], self.white, self.shifts, length, ref.priors)
            for c in SHAPES
        }
        self.b_hat = np.fft.rfft(self.white.slope)

    def __call__(
        self, X: np.ndarray, *, truth: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        """The ratio per record, float64 (n,), of records X (n, L) in V.

        With ``truth`` = (height in V, onset in ms), each (n,), the ratio at the known height
        (after saturation) and onset (nearest sample in the window): the evaluator's ceiling.
        """
        det, white, shifts = self.ref.detector, self.white, self.shifts
        length = det.record_length
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != length:
            raise ValueError(f"X must have shape (n, {length}); got {X.shape}")
        out = []
        for start in range(0, len(X), BATCH_SIZE):
            y_hat = np.fft.rfft(np.asarray(X[start : start + BATCH_SIZE], dtype=float), axis=1)
            by = _inner(self.b_hat[None, :], y_hat, white.weight, length)
            if truth is None:
                ev = {
                    c: t.log_evidence(y_hat, by, white, length, self.ref.priors)
                    for c, t in self.terms.items()
                }
            else:
                height, onset = (
                    np.asarray(a, dtype=float)[start : start + BATCH_SIZE] for a in truth
                )
                peak = det.saturation_v * np.tanh(height / det.saturation_v)
                index = np.rint(onset * det.sampling_rate_hz / 1000.0).astype(int) - shifts[0]
                index = np.clip(index, 0, len(shifts) - 1)
                ev = {
                    c: t.log_likelihood_known(y_hat, by, white, length, index, peak)
                    for c, t in self.terms.items()
                }
            out.append(ev[1] - ev[0])
        return np.concatenate(out) if out else np.empty(0)


def log_likelihood_ratio(
    X: np.ndarray, ref: Reference, *, truth: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """log p(X | carrier) - log p(X | absorber) per record, float64 (n,), of records X (n, L) in V
    (``LikelihoodRatio``: prepare it once to score many batches)."""
    return LikelihoodRatio(ref)(X, truth=truth)
