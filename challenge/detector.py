"""The simulated CRESST-type detector: read-out constants, the two pulse templates and the noise spectrum.

Times are in milliseconds, frequencies in hertz, voltages in volts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

SAMPLING_RATE_HZ = 25_000
RECORD_LENGTH = 16_384
TRIGGER_FRACTION = 0.25  # the trigger sits at the end of the first quarter (the pre-trigger region)


def trigger_index(record_length: int) -> int:
    """Sample index of the trigger: the first quarter of the record is the pre-trigger baseline."""
    return int(record_length * TRIGGER_FRACTION)


@dataclass(frozen=True)
class PulseShape:
    """Parameters of the pulse model of Pröbst et al., NIM A 370 (1995) 329 (times in ms).

    p(t) = A_n (exp(-t/tau_n) - exp(-t/tau_in)) + A_t (exp(-t/tau_t) - exp(-t/tau_n)) for t >= 0.
    """

    name: str
    a_n: float
    a_t: float
    tau_n: float
    tau_in: float
    tau_t: float


# Values that the CRESST machine-learning tools use for simulated test data.
ABSORBER = PulseShape("absorber", a_n=4.0, a_t=0.02, tau_n=4.15, tau_in=2.1, tau_t=53.06)
CARRIER = PulseShape("carrier", a_n=1.73, a_t=1.65, tau_n=136.0, tau_in=0.38, tau_t=2.13)
SHAPES = {0: ABSORBER, 1: CARRIER}  # keyed by class label: 0 = absorber, 1 = carrier


def probst_pulse(t_ms, a_n, a_t, tau_n, tau_in, tau_t) -> np.ndarray:
    """The raw (not normalised) Pröbst pulse at times ``t_ms`` after onset; zero for t < 0.

    All arguments broadcast against each other, so per-event parameters of shape (n, 1)
    and a time grid of shape (n, L) or (L,) give an (n, L) array.
    """
    t = np.maximum(t_ms, 0.0)  # clamp so that exp() cannot overflow before the step function
    e_n = np.exp(-t / tau_n)
    pulse = a_n * (e_n - np.exp(-t / tau_in)) + a_t * (np.exp(-t / tau_t) - e_n)
    return np.where(np.asarray(t_ms) >= 0.0, pulse, 0.0)


def filtered_probst_pulse(t_ms, a_n, a_t, tau_n, tau_in, tau_t, tau_f, *, out=None) -> np.ndarray:
    """The Pröbst pulse after a one-pole low-pass of time constant ``tau_f`` (ms); zero for t < 0.

    The pulse is a sum of exponentials c_k exp(-t / tau_k) with sum c_k = 0; the filter turns
    each into c_k tau_k / (tau_k - tau_f) (exp(-t / tau_k) - exp(-t / tau_f)). Broadcasts as
    ``probst_pulse``; ``tau_f`` must differ from every tau_k. Times before the onset are taken
    at the onset, where the terms cancel exactly. One buffer for the terms: the simulator's hot
    spot, and memory-bound. ``out``: an array of the result's shape and type to write it into.
    """
    t = np.maximum(t_ms, 0.0)
    args = (t, a_n, a_t, tau_n, tau_in, tau_t, tau_f)
    shape, dtype = np.broadcast_shapes(*map(np.shape, args)), np.result_type(*args)
    t = np.broadcast_to(t, shape)
    pulse = np.empty(shape, dtype) if out is None else out
    term = np.empty(shape, dtype)
    lag = 0.0  # the coefficient of exp(-t / tau_f)
    for i, (c, tau) in enumerate(((a_n - a_t, tau_n), (-a_n, tau_in), (a_t, tau_t))):
        k = c * tau / (tau - tau_f)
        _add_decay(pulse, t, tau, k, term, first=i == 0)
        lag = lag + k
    _add_decay(pulse, t, tau_f, -lag, term)
    return pulse


def _add_decay(pulse: np.ndarray, t: np.ndarray, tau, k, term: np.ndarray, *, first=False) -> None:
    """pulse += k exp(-t / tau) (``first``: pulse = ...), through the buffer ``term``, for ``t``
    nondecreasing along its last axis: only over the leading columns where the exponential is
    not 0 in t's precision (elsewhere the sum would not change), which spares most of a record
    for a fast tau."""
    stop = _nonzero_columns(t, tau)
    part = pulse[..., :stop] if first else term[..., :stop]
    np.divide(t[..., :stop], -tau, out=part)
    np.exp(part, out=part)
    part *= k
    if first:
        pulse[..., stop:] = 0.0
    else:
        pulse[..., :stop] += part


def _nonzero_columns(t: np.ndarray, tau) -> int:
    """The number of leading columns of ``t`` (nondecreasing along its last axis) where
    exp(-t / tau) is not 0 in some row: a bisection on whole columns."""
    limit = np.asarray(tau) * _UNDERFLOW[t.dtype]
    lo, hi = 0, t.shape[-1]
    while lo < hi:
        mid = (lo + hi) // 2
        if np.all(t[..., mid : mid + 1] > limit):
            hi = mid
        else:
            lo = mid + 1
    return lo


# x beyond which exp(-x) rounds to 0: past the smallest subnormal, with a margin for the
# rounding of t / tau and of the exponential.
_UNDERFLOW = {
    np.dtype(d): float(-np.log(np.finfo(d).smallest_subnormal)) + 5.0
    for d in (np.float32, np.float64)
}


def _probst_slope(t, a_n, a_t, tau_n, tau_in, tau_t):
    e_n = np.exp(-t / tau_n)
    return a_n * (np.exp(-t / tau_in) / tau_in - e_n / tau_n) + a_t * (
        e_n / tau_n - np.exp(-t / tau_t) / tau_t
    )


def peak_time_ms(a_n, a_t, tau_n, tau_in, tau_t, *, iterations: int = 60) -> np.ndarray:
    """Time of the pulse maximum (ms after onset), vectorised bisection on the slope.

    The slope is positive right after onset and negative after a few of the fast
    time constants; for the templates here the maximum is unique.
    """
    args = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (a_n, a_t, tau_n, tau_in, tau_t))
    )
    lo = np.zeros(args[0].shape)
    hi = 10.0 * np.maximum(
        args[2], args[3]
    )  # several rise/decay times: the slope is negative there
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        rising = _probst_slope(mid, *args) > 0
        lo = np.where(rising, mid, lo)
        hi = np.where(rising, hi, mid)
    return 0.5 * (lo + hi)


def peak_value(a_n, a_t, tau_n, tau_in, tau_t) -> np.ndarray:
    """Maximum of the raw Pröbst pulse: the factor that normalises it to unit height."""
    return probst_pulse(
        peak_time_ms(a_n, a_t, tau_n, tau_in, tau_t), a_n, a_t, tau_n, tau_in, tau_t
    )


def template(shape: PulseShape, t_ms) -> np.ndarray:
    """The unit-height template of ``shape`` at times ``t_ms`` after onset (zero before onset)."""
    params = (shape.a_n, shape.a_t, shape.tau_n, shape.tau_in, shape.tau_t)
    return probst_pulse(t_ms, *params) / peak_value(*params)


@dataclass(frozen=True)
class NoiseSpectrum:
    """One-sided noise power spectral density in V^2/Hz: white, 1/f^beta and mains lines.

    S(f) = 2 sigma_w^2 / f_s * (1 + (f_c / f)^beta) + sum_h P_h g(f - h f_mains).

    ``white_rms_v`` is the per-sample RMS of the white part alone; below ``corner_hz`` the
    1/f^beta part dominates. The shape follows the artificial noise power spectra of cait's
    data augmentation (cait 1.2, ``cait/augment/_cryoaug.py``, ``sample_noise``): two power
    laws, (f + 1)^-(2 - 2r) and (f + 1)^-r with r in [0, 0.3], that cross near 100 Hz, and
    mains lines at 50, 150 and 250 Hz with amplitudes 1, 1/3 and 1/5. Here r = 0.15 (the middle
    of cait's range) gives beta = 1.7 and f_c = 80 Hz: PSD(1-5 Hz) / PSD(1-2 kHz) is about 400
    (cait: 230 to 840 over r). ``mains_rms_v`` holds the RMS of each line (odd harmonics of
    ``mains_hz``); each is a Gaussian peak of width ``mains_width_hz`` (at least one frequency
    bin), so the lines' phases and amplitudes vary from record to record. The DC bin is zero:
    offsets and drifts are simulated separately.
    """

    white_rms_v: float = 0.005
    corner_hz: float = 80.0
    beta: float = 1.7
    mains_hz: float = 50.0
    mains_rms_v: tuple[float, ...] = (0.0008, 0.00027, 0.00016)  # harmonics 1, 3, 5
    mains_width_hz: float = 0.5

    def psd(self, freqs_hz: np.ndarray, sampling_rate_hz: float) -> np.ndarray:
        """S(f) at the given, evenly spaced frequencies; 0 at f = 0."""
        f = np.asarray(freqs_hz, dtype=float)
        white = 2.0 * self.white_rms_v**2 / sampling_rate_hz
        with np.errstate(divide="ignore"):
            red = (self.corner_hz / np.where(f > 0, f, 1.0)) ** self.beta
        psd = np.where(f > 0, white * (1.0 + red), 0.0)
        return psd + self._lines(f)

    def _lines(self, f: np.ndarray) -> np.ndarray:
        """The mains lines' PSD on the grid f: each line's power spread over its nearest bins."""
        out = np.zeros_like(f)
        if f.size < 2:
            return out
        df = f[1] - f[0]
        width = max(self.mains_width_hz, df)
        for harmonic, rms in zip(
            range(1, 2 * len(self.mains_rms_v), 2), self.mains_rms_v, strict=True
        ):
            shape = np.exp(-0.5 * ((f - harmonic * self.mains_hz) / width) ** 2)
            if shape.sum() > 0:
                out += rms**2 * shape / (shape.sum() * df)  # integrates to rms^2 on the grid
        return np.where(f > 0, out, 0.0)


@dataclass(frozen=True)
class Detector:
    """Read-out of the detector: sampling, record window, TES saturation, read-out filter, ADC.

    The saturation curve is v = S tanh(|x / S|^p)^(1/p) sign(x): p = 1 is the logistic tanh,
    a larger p keeps the response linear longer and bends more sharply (TES differ in this).
    ``lowpass_hz`` is the corner of the read-out's one-pole low-pass filter (None: no filter);
    it acts on pulses and noise alike.
    """

    sampling_rate_hz: float = SAMPLING_RATE_HZ
    record_length: int = RECORD_LENGTH
    noise: NoiseSpectrum = field(default_factory=NoiseSpectrum)
    saturation_v: float = 3.0  # pulses approach this height logistically: v = S tanh(x / S)
    saturation_sharpness: float = 1.0  # p of the saturation curve; 1 = tanh
    lowpass_hz: float | None = None
    adc_bits: int = 16
    adc_range_v: float = 20.0  # full range of the ADC, -10 V .. +10 V

    @property
    def trigger_index(self) -> int:
        return trigger_index(self.record_length)

    @property
    def volts_per_count(self) -> float:
        return self.adc_range_v / 2**self.adc_bits

    def times_ms(self) -> np.ndarray:
        """Sample times from the start of the record, shape (record_length,)."""
        return np.arange(self.record_length) * (1000.0 / self.sampling_rate_hz)

    def rfft_freqs(self) -> np.ndarray:
        return np.fft.rfftfreq(self.record_length, d=1.0 / self.sampling_rate_hz)

    def noise_psd(self) -> np.ndarray:
        """S(f) on the rfft frequencies of one record, shape (record_length // 2 + 1,), after
        the read-out filter."""
        return self.noise.psd(self.rfft_freqs(), self.sampling_rate_hz) * self.lowpass_power()

    def lowpass_power(self) -> np.ndarray:
        """|H(f)|^2 of the read-out filter on the rfft frequencies (ones without a filter)."""
        f = self.rfft_freqs()
        if self.lowpass_hz is None:
            return np.ones_like(f)
        return 1.0 / (1.0 + (f / self.lowpass_hz) ** 2)

    @property
    def lowpass_tau_ms(self) -> float | None:
        """Time constant of the read-out filter, 1 / (2 pi f_c), in ms; None without one."""
        return None if self.lowpass_hz is None else 1000.0 / (2.0 * np.pi * self.lowpass_hz)

    def saturate(self, x: np.ndarray) -> np.ndarray:
        """The TES response to a signal of ``x`` volts (any shape): S tanh(|x/S|^p)^(1/p) sign(x)."""
        s, p = self.saturation_v, self.saturation_sharpness
        if p == 1.0:
            return s * np.tanh(x / s)
        return np.sign(x) * s * np.tanh(np.abs(x / s) ** p) ** (1.0 / p)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Detector:
        d = dict(d)
        noise = dict(d.get("noise", {}))
        if "mains_rms_v" in noise:
            noise["mains_rms_v"] = tuple(noise["mains_rms_v"])  # JSON gives a list
        d["noise"] = NoiseSpectrum(**noise)
        return cls(**d)
