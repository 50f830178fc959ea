"""The plain matched filter: chi² fits of the two known templates after whitening; the pulse height.

Each template is fitted with a free amplitude (>= 0), a free onset in the onset window (all shifts
at once by FFT cross-correlation) and a linear baseline, in the inner product weighted by the
inverse noise spectrum. The score is chi²(absorber) - chi²(carrier). No labels are used.
learn_templates and estimate_noise_psd learn templates and noise from training data; the
physics reference (``challenge.likelihood``) builds on these fits.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from challenge.detector import SHAPES, Detector, template

ONSET_WINDOW_MS = (
    2.0  # onset search: trigger +- this, unless the metadata give the simulator's jitter
)
BATCH_SIZE = 256  # records per FFT batch: bounds the memory of the fit
SMOOTHING_MS = 0.2  # moving-average width of the simple pulse-height estimate
LEAD_SAMPLES = 25  # learned templates start this many samples before their 20% point
# The pre-trigger baseline ends at this fraction of the trigger index: clear of pulses that start
# early (the simulator's onsets come up to 1 ms early, those of cait's mock data 1.1 ms).
BASELINE_FRACTION = 0.9
LOW_FIT_BINS = 4  # noise spectra are extrapolated below the pre-trigger resolution from these
LEARN_MIN_SNR = 20.0  # learned templates: records at least this many noise RMS high ...
LEARN_MAX_QUANTILE = 0.9  # ... and below this quantile of the heights (saturation)


class TemplateFit(NamedTuple):
    """Best fit of one template to each record, shape (n,) each."""

    amplitude: np.ndarray  # volts, >= 0
    onset_ms: np.ndarray  # ms from the record start
    chi2: np.ndarray  # whitened chi² (about record_length for pure noise)


class _Whitening(NamedTuple):
    weight: np.ndarray  # (F,) 1 / (noise variance density); 0 at DC, so offsets drop out
    slope: np.ndarray  # (L,) the linear-baseline regressor


def baseline_samples(detector: Detector) -> int:
    """Samples of the pre-trigger baseline: the record up to BASELINE_FRACTION of the trigger."""
    return max(2, int(BASELINE_FRACTION * detector.trigger_index))


def detector_from_metadata(metadata: dict) -> Detector:
    """The detector a file was simulated with, from the metadata that challenge.data reads."""
    try:
        detector = Detector.from_dict(metadata["detector"])
    except KeyError as err:
        raise ValueError(
            f"metadata has no detector description (missing key {err}); got keys {sorted(metadata)}"
        ) from None
    if detector.record_length != int(metadata.get("record_length", detector.record_length)):
        raise ValueError(
            "metadata is inconsistent: record_length differs from detector.record_length"
        )
    return detector


FORMAT_KEYS = ("sampling_rate_hz", "record_length", "trigger_index")


def record_format_metadata(metadata: dict) -> dict:
    """Only the record format of ``metadata``: sampling rate, record length and trigger index.

    What a method learned from training records may read: none of the simulator's settings
    (``detector``'s noise and saturation, ``simulation``'s priors), which describe the public
    simulator's defaults, not the detector that recorded the data. Its ``detector`` holds the
    two format fields only; a learned noise spectrum must replace its default one.
    """
    missing = [key for key in FORMAT_KEYS if key not in metadata]
    if missing:
        raise ValueError(
            f"metadata has no record format (missing {missing}); got keys {sorted(metadata)}"
        )
    rate, length = float(metadata["sampling_rate_hz"]), int(metadata["record_length"])
    detector = Detector(sampling_rate_hz=rate, record_length=length)
    if int(metadata["trigger_index"]) != detector.trigger_index:
        raise ValueError(
            f"metadata's trigger_index {metadata['trigger_index']} is not the first quarter of "
            f"{length} samples ({detector.trigger_index}), which the pre-trigger analysis assumes"
        )
    detector_format = {"sampling_rate_hz": rate, "record_length": length}
    return {"sampling_rate_hz": rate, "record_length": length,
            "trigger_index": detector.trigger_index, "detector": detector_format}  # fmt: skip


def _whitening(detector: Detector, psd: np.ndarray | None = None) -> _Whitening:
    psd = detector.noise_psd() if psd is None else np.asarray(psd, dtype=float)
    if psd.shape != (detector.record_length // 2 + 1,):
        raise ValueError(
            f"noise_psd must have shape ({detector.record_length // 2 + 1},); got {psd.shape}"
        )
    weight = np.zeros_like(psd)
    weight[psd > 0] = 2.0 / (detector.sampling_rate_hz * psd[psd > 0])
    return _Whitening(weight, np.linspace(-1.0, 1.0, detector.record_length))


def _inner(a_hat: np.ndarray, b_hat: np.ndarray, weight: np.ndarray, length: int) -> np.ndarray:
    """Weighted inner product of real signals from their rffts (last axis)."""
    both = np.ones_like(weight) * 2.0
    both[0] = 1.0
    if length % 2 == 0:
        both[-1] = 1.0
    return np.real(np.conj(a_hat) * b_hat) @ (both * weight) / length


def _fit_one(y_hat, yy, by, t_hat, white: _Whitening, shifts, length) -> tuple[np.ndarray, ...]:
    """Fits amplitude * template(shift) + slope for every shift; returns the best per record.

    With regressors T_s (template at shift s) and b (slope), chi²(s) = <y,y> - v' M(s)^-1 v,
    v = (<T_s,y>, <b,y>), M(s) = [[<T,T>, <T_s,b>], [<T_s,b>, <b,b>]]: a 2x2 solve in closed form.
    """
    w = white.weight
    # Correlation with the template at every circular shift, restricted to the onset window.
    cy = np.fft.irfft(y_hat * np.conj(t_hat) * w, n=length, axis=-1)[:, shifts]  # (n, S)
    b_hat = np.fft.rfft(white.slope)
    tb = np.fft.irfft(b_hat * np.conj(t_hat) * w, n=length)[shifts]  # (S,)
    tt = _inner(t_hat, t_hat, w, length)
    bb = _inner(b_hat, b_hat, w, length)
    det = tt * bb - tb**2
    amp = (bb * cy - tb * by[:, None]) / det
    explained = (bb * cy**2 - 2.0 * tb * cy * by[:, None] + tt * by[:, None] ** 2) / det
    baseline_only = by**2 / bb
    explained = np.where(amp > 0, explained, baseline_only[:, None])  # pulses are positive
    best = np.argmax(explained, axis=1)
    rows = np.arange(len(best))
    return np.maximum(amp[rows, best], 0.0), shifts[best], yy - explained[rows, best]


def nominal_templates(detector: Detector, last_shift: int) -> dict[str, np.ndarray]:
    """The unit-height absorber and carrier templates with onset at sample 0, each (L,).

    They end where the latest onset of the search (``last_shift``) reaches the end of the
    record, so that no circular shift wraps a pulse tail into the pre-trigger baseline.
    """
    length = detector.record_length
    times = np.where(np.arange(length) < length - last_shift, detector.times_ms(), -1.0)
    return {shape.name: template(shape, times) for shape in SHAPES.values()}


def onset_shifts(metadata: dict) -> np.ndarray:
    """Onset samples searched: the trigger +- the simulator's onset jitter when the metadata
    describe a simulation, else +- ONSET_WINDOW_MS (less for very short records)."""
    detector = detector_from_metadata(metadata)
    window_ms = float(metadata.get("simulation", {}).get("onset_jitter_ms", ONSET_WINDOW_MS))
    dt_ms = 1000.0 / detector.sampling_rate_hz
    half = min(int(np.ceil(window_ms / dt_ms - 1e-9)), detector.trigger_index)
    return np.arange(detector.trigger_index - half, detector.trigger_index + half + 1)


def fit_templates(
    X: np.ndarray,
    *,
    metadata: dict,
    templates: dict[str, np.ndarray] | None = None,
    noise_psd: np.ndarray | None = None,
    shifts: np.ndarray | None = None,
) -> dict[str, TemplateFit]:
    """Fits each template to each record of X (n, L) in volts.

    By default the templates are the detector's absorber and carrier (nominal_templates) and
    the noise spectrum is the detector's; ``templates`` ({name: (L,) array, onset at sample 0})
    and ``noise_psd`` ((L // 2 + 1,) in V^2/Hz) replace them, e.g. with ones learned from data;
    ``shifts`` (onset samples to search, in [0, L)) replaces ``onset_shifts(metadata)``.
    Returns {name: TemplateFit}, arrays of shape (n,).
    """
    detector = detector_from_metadata(metadata)
    X = np.asarray(X)
    length = detector.record_length
    if X.ndim != 2 or X.shape[1] != length:
        raise ValueError(f"X must have shape (n, {length}); got {X.shape}")
    white = _whitening(detector, noise_psd)
    dt_ms = 1000.0 / detector.sampling_rate_hz
    shifts = onset_shifts(metadata) if shifts is None else np.asarray(shifts, dtype=int)
    if len(shifts) == 0 or shifts.min() < 0 or shifts.max() >= length:
        raise ValueError(
            f"onset shifts must lie in [0, {length}); got {shifts.min()}..{shifts.max()}"
        )
    if templates is None:
        templates = nominal_templates(detector, int(shifts[-1]))
    t_hats = {
        name: np.fft.rfft(np.asarray(t, dtype=float), n=length) for name, t in templates.items()
    }
    b_hat = np.fft.rfft(white.slope)
    out: dict[str, list] = {name: [] for name in t_hats}
    for start in range(0, len(X), BATCH_SIZE):
        y_hat = np.fft.rfft(np.asarray(X[start : start + BATCH_SIZE], dtype=float), axis=1)
        yy = _inner(y_hat, y_hat, white.weight, length)
        by = _inner(b_hat[None, :], y_hat, white.weight, length)
        for name, t_hat in t_hats.items():
            amp, shift, chi2 = _fit_one(y_hat, yy, by, t_hat, white, shifts, length)
            out[name].append((amp, shift * dt_ms, chi2))
    empty = (np.empty(0), np.empty(0), np.empty(0))
    return {
        name: TemplateFit(*(np.concatenate(c) for c in zip(*parts, empty, strict=True)))
        for name, parts in out.items()
    }


def matched_filter_score(X: np.ndarray, *, metadata: dict) -> np.ndarray:
    """chi²(absorber fit) - chi²(carrier fit) per record, float64 (n,): higher = more carrier-like."""
    fits = fit_templates(X, metadata=metadata)
    return fits["absorber"].chi2 - fits["carrier"].chi2


def pulse_height_estimate(X: np.ndarray, *, metadata: dict) -> np.ndarray:
    """A simple measured pulse height (n,): maximum of the smoothed record minus its pre-trigger mean."""
    detector = detector_from_metadata(metadata)
    width = max(1, int(round(SMOOTHING_MS * detector.sampling_rate_hz / 1000.0)))
    base = baseline_samples(detector)
    out = []
    for start in range(0, len(X), BATCH_SIZE):  # bounded memory: float64 copies of a batch
        x = np.asarray(X[start : start + BATCH_SIZE], dtype=float)
        cumsum = np.zeros((len(x), x.shape[1] + 1))
        np.cumsum(x, axis=1, out=cumsum[:, 1:])
        smooth = (cumsum[:, width:] - cumsum[:, :-width]) / width  # moving average
        out.append(smooth[:, base:].max(axis=1) - x[:, :base].mean(axis=1))
    return np.concatenate(out) if out else np.empty(0)


def estimate_noise_psd(X: np.ndarray, *, metadata: dict) -> np.ndarray:
    """Noise spectrum (L // 2 + 1,) in V^2/Hz estimated from the pre-trigger baselines of X (n, L)."""
    detector = detector_from_metadata(metadata)
    return pretrigger_psd(
        X, n_pre=baseline_samples(detector), sampling_rate_hz=detector.sampling_rate_hz
    )


def pretrigger_psd(X: np.ndarray, *, n_pre: int, sampling_rate_hz: float = 1.0) -> np.ndarray:
    """One-sided noise PSD (L // 2 + 1,) of records X (n, L) from their first ``n_pre`` samples.

    Hann-windowed periodograms of the detrended pre-trigger regions; their median over records
    (robust to the few with pile-up or spikes), interpolated in log-log onto the record's bins;
    below the lowest frequency the region resolves, the power law of its lowest bins goes on
    (falling spectra only). The DC bin is 0.
    """
    X = np.asarray(X)
    if X.ndim != 2 or not 2 <= n_pre <= X.shape[1]:
        raise ValueError(f"need records (n, L) with L >= n_pre={n_pre} >= 2; got shape {X.shape}")
    pre = np.asarray(X[:, :n_pre], dtype=float)
    t = np.linspace(-1.0, 1.0, n_pre)
    trend = np.vstack([np.ones(n_pre), t])  # (2, P): offset and slope
    pre = pre - np.linalg.lstsq(trend.T, pre.T, rcond=None)[0].T @ trend
    window = np.hanning(n_pre)
    fs = sampling_rate_hz
    periodogram = 2.0 * np.abs(np.fft.rfft(pre * window, axis=1)) ** 2 / (fs * (window**2).sum())
    coarse = np.median(periodogram, axis=0) / np.log(2.0)  # median of an exponential -> its mean
    f_coarse = np.fft.rfftfreq(n_pre, 1.0 / fs)[1:]
    f = np.fft.rfftfreq(X.shape[1], 1.0 / fs)
    log_f, log_coarse = np.log(f_coarse), np.log(coarse[1:])
    log_psd = np.interp(np.log(np.maximum(f, f_coarse[0])), log_f, log_coarse)
    # Below the region's lowest frequency: the power law of its lowest LOW_FIT_BINS bins.
    slope = np.polyfit(log_f[:LOW_FIT_BINS], log_coarse[:LOW_FIT_BINS], 1)[0]
    below = (f > 0) & (f < f_coarse[0])
    log_psd[below] = log_coarse[0] + min(slope, 0.0) * (np.log(f[below]) - log_f[0])
    psd = np.exp(log_psd)
    psd[0] = 0.0
    return psd


def learn_templates(
    X: np.ndarray,
    y: np.ndarray,
    *,
    metadata: dict,
    height_range_v: tuple[float, float] | None = None,
    length_ms: float = 30.0,
) -> dict[str, np.ndarray]:
    """Absorber and carrier templates (L,) learned from labelled records, for fit_templates.

    Takes the records whose smoothed height lies in ``height_range_v`` (well above the noise,
    below saturation; by default from LEARN_MIN_SNR times the pre-trigger noise to the
    LEARN_MAX_QUANTILE of the heights, in the records' units), aligns them where they first reach 20% of their height, and takes the
    median per class, cut after ``length_ms`` where the noise would dominate. Onset at sample 0
    means the 20% point lies LEAD_SAMPLES later.
    """
    detector = detector_from_metadata(metadata)
    X, y = np.asarray(X), np.asarray(y)  # float64 copies of the rows used only: bounded memory
    length, trig = detector.record_length, detector.trigger_index
    base = baseline_samples(detector)
    lead = LEAD_SAMPLES
    if trig < 2 * lead:
        raise ValueError(f"records of {length} samples are too short to learn templates from")
    height = pulse_height_estimate(X, metadata=metadata)
    if height_range_v is None:
        noise = float(np.median(np.asarray(X[:, :base], dtype=float).std(axis=1)))
        height_range_v = (LEARN_MIN_SNR * noise, float(np.quantile(height, LEARN_MAX_QUANTILE)))
    keep = min(
        length - onset_shifts(metadata)[-1], int(length_ms * detector.sampling_rate_hz / 1000.0)
    )
    templates = {}
    for label, shape in SHAPES.items():
        rows = np.flatnonzero(
            (y == label) & (height > height_range_v[0]) & (height < height_range_v[1])
        )
        if len(rows) == 0:  # few records: the class's pulses above the noise, saturated or not
            rows = np.flatnonzero((y == label) & (height > height_range_v[0]))
        if len(rows) == 0:
            raise ValueError(
                f"no {shape.name} record with a height in "
                f"({height_range_v[0]:.3g}, {height_range_v[1]:.3g}) to learn from"
            )
        pulses = np.asarray(X[rows], dtype=float)
        pulses -= pulses[:, :base].mean(axis=1, keepdims=True)
        pulses /= height[rows, None]
        start = np.argmax(pulses[:, base:] > 0.2, axis=1) + base - lead  # (m,)
        index = start[:, None] + np.arange(keep)[None, :]  # (m, keep) samples from onset - lead
        aligned = np.take_along_axis(pulses, np.clip(index, 0, length - 1), axis=1)
        tpl = np.zeros(length)
        tpl[:keep] = np.median(aligned, axis=0)
        templates[shape.name] = tpl / tpl.max()
    return templates
