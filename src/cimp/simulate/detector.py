"""The annular detector: electron counting, scintillator/PMT pulses, response, gain, offset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

UINT16_MAX = 65535


@dataclass(frozen=True)
class Detector:
    """Constants of the simulated HAADF detector chain."""

    pulse_shape: float = 6.0  # gamma shape of single-electron pulse heights (variance 1/k)
    response_us: float = 0.4  # time constant of the scintillator + amplifier
    read_noise: float = 4.0  # counts, after the amplifier
    dark_noise_per_gain: float = 1e-3  # PMT dark noise, as a fraction of counts per electron
    outer_to_inner: float = 4.0  # ratio of outer to inner collection angle
    gain_db_per_decade: float = 15.0  # vendor gain units per decade of counts per electron
    gain_at_unity: float = 20.0  # vendor gain giving 1 count per electron
    counts_per_offset: float = 1000.0  # black level (counts) per vendor offset unit


DETECTOR = Detector()


def counts_per_electron(gain: float, det: Detector = DETECTOR) -> float:
    """The PMT transfer: exponential in the vendor gain setting."""
    return 10.0 ** ((gain - det.gain_at_unity) / det.gain_db_per_decade)


def gain_for_counts(counts: float, det: Detector = DETECTOR) -> float:
    """Inverse of counts_per_electron."""
    return det.gain_at_unity + det.gain_db_per_decade * np.log10(counts)


def black_level(offset: float, det: Detector = DETECTOR) -> float:
    """Counts added by the offset setting; a negative black level clips the dark end."""
    return det.counts_per_offset * offset


def noise_floor(gain: float, det: Detector = DETECTOR) -> float:
    """Standard deviation (counts) of the noise added after counting: amplifier and PMT dark."""
    return float(np.hypot(det.read_noise, det.dark_noise_per_gain * counts_per_electron(gain, det)))


def response_filter(signal: np.ndarray, dwell_us: float, det: Detector = DETECTOR) -> np.ndarray:
    """First-order low-pass along the raster: short dwell times smear along the fast axis."""
    a = float(np.exp(-dwell_us / det.response_us))
    flat = signal.reshape(-1)
    out = lfilter([1.0 - a], [1.0, -a], flat, zi=[a * flat[0]])[0]
    return out.reshape(signal.shape)


def _pulse_sum(electrons: np.ndarray, shape: float, rng: np.random.Generator) -> np.ndarray:
    """Summed pulse heights of a Poisson number of electrons, each gamma(shape)/shape.

    Exact (Poisson count, then a gamma sum) below 25 electrons; above, the normal limit with
    the same mean and variance (electrons * (1 + 1/shape)), which numpy draws 5x faster.
    """
    out = np.empty(electrons.shape)
    many = electrons >= 25.0
    lam = electrons[many]
    out[many] = lam + np.sqrt(lam * (1.0 + 1.0 / shape)) * rng.standard_normal(lam.size)
    counts = rng.poisson(electrons[~many])
    few = np.zeros(counts.shape)
    hit = counts > 0
    few[hit] = rng.standard_gamma(counts[hit] * shape) / shape
    out[~many] = few
    return out


def detect(
    electrons: np.ndarray,
    dwell_us: float,
    gain: float,
    offset: float,
    rng: np.random.Generator | None,
    det: Detector = DETECTOR,
) -> np.ndarray:
    """Expected electrons per pixel -> uint16 detector output.

    Poisson counting, gamma-distributed pulse heights, detector response, gain, black level,
    read noise, rounding and clipping at both ends. With rng None the noise-free expectation
    (float, unclipped) is returned.
    """
    c = counts_per_electron(gain, det)
    if rng is None:
        return response_filter(electrons, dwell_us, det) * c + black_level(offset, det)
    pulses = _pulse_sum(electrons, det.pulse_shape, rng)
    analog = response_filter(pulses, dwell_us, det) * c + black_level(offset, det)
    analog += noise_floor(gain, det) * rng.standard_normal(analog.shape, dtype=np.float32)
    return np.clip(np.rint(analog), 0, UINT16_MAX).astype(np.uint16)
