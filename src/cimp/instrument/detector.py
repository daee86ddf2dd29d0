"""The annular detector: electron counting, scintillator/PMT pulses, response, gain, offset.

Its constants are the default instrument profile's (`profiles/titan.json`, "detector"), as
measured on real Thermo Fisher HAADF files (docs/simulator.md shows how): a black level of
~9,000-15,000 counts, ~8 counts per detected electron at gain 19.3, ~45 counts of noise in
vacuum at that gain and ~14 at <= 1.9 counts per electron.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

UINT16_MAX = 65535
DEFAULT_PROFILE = Path(__file__).parent / "profiles" / "titan.json"


@dataclass(frozen=True)
class Detector:
    """Constants of a HAADF detector chain, in the vendor's gain and offset units."""

    pulse_shape: float  # gamma shape of single-electron pulse heights (variance 1/k)
    response_us: float  # time constant of the scintillator + amplifier
    read_noise: float  # counts of amplifier noise, whatever the gain
    dark_noise: float  # PMT noise in detected-electron equivalents, before the response
    outer_to_inner: float  # ratio of outer to inner collection angle
    reference_gain: float  # a gain setting, and the counts per electron it gives
    counts_at_reference: float
    gain_per_decade: float  # gain units per decade of counts per electron
    black_at_zero_offset: float  # counts of black level at offset 0
    counts_per_offset: float  # black level (counts) per offset unit

    @classmethod
    def from_dict(cls, data: dict) -> Detector:
        """The constants a profile's "detector" section holds (other keys are notes)."""
        return cls(**{f.name: float(data[f.name]) for f in fields(cls)})


DETECTOR = Detector.from_dict(json.loads(DEFAULT_PROFILE.read_text())["detector"])


def counts_per_electron(gain: float, det: Detector = DETECTOR) -> float:
    """The PMT transfer: exponential in the vendor gain setting."""
    return det.counts_at_reference * 10.0 ** ((gain - det.reference_gain) / det.gain_per_decade)


def gain_for_counts(counts: float, det: Detector = DETECTOR) -> float:
    """Inverse of counts_per_electron."""
    return det.reference_gain + det.gain_per_decade * np.log10(counts / det.counts_at_reference)


def black_level(offset: float, det: Detector = DETECTOR) -> float:
    """Counts the offset setting adds; a negative black level clips the dark end."""
    return det.black_at_zero_offset + det.counts_per_offset * offset


def offset_for_black(counts: float, det: Detector = DETECTOR) -> float:
    """Inverse of black_level: the offset that puts the black level at `counts`."""
    return (counts - det.black_at_zero_offset) / det.counts_per_offset


def noise_floor(gain: float, dwell_us: float, det: Detector = DETECTOR) -> float:
    """Standard deviation (counts) of the noise added to the counting: the PMT's dark noise,
    smoothed by the response (less at short dwell times), and the amplifier's."""
    a = float(np.exp(-dwell_us / det.response_us))
    dark = det.dark_noise * counts_per_electron(gain, det) * np.sqrt((1.0 - a) / (1.0 + a))
    return float(np.hypot(det.read_noise, dark))


def response_filter(signal: np.ndarray, dwell_us: float, det: Detector = DETECTOR) -> np.ndarray:
    """First-order low-pass along the raster: short dwell times smear along the fast axis."""
    a = float(np.exp(-dwell_us / det.response_us))
    flat = signal.reshape(-1)
    out = lfilter([1.0 - a], [1.0, -a], flat, zi=[a * flat[0]])[0]
    return out.reshape(signal.shape)


def _pulse_sum(electrons: np.ndarray, shape: float, rng: np.random.Generator) -> np.ndarray:
    """Summed pulse heights of a Poisson number of electrons, each gamma(shape)/shape.

    Exact (Poisson count, then a gamma sum) below 25 electrons; above, the normal limit with
    the same mean and variance (electrons * (1 + 1/shape)), which numpy draws faster.
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
    *,
    rng: np.random.Generator | None,
    det: Detector = DETECTOR,
) -> np.ndarray:
    """Expected electrons per pixel -> uint16 detector output.

    Poisson counting, gamma-distributed pulse heights and PMT dark noise, detector response,
    gain, black level, amplifier noise, rounding and clipping at both ends. With rng None the
    noise-free expectation (float, unclipped) is returned.
    """
    c = counts_per_electron(gain, det)
    if rng is None:
        return response_filter(electrons, dwell_us, det) * c + black_level(offset, det)
    pulses = _pulse_sum(electrons, det.pulse_shape, rng)
    pulses += det.dark_noise * rng.standard_normal(pulses.shape, dtype=np.float32)
    analog = response_filter(pulses, dwell_us, det) * c + black_level(offset, det)
    analog += det.read_noise * rng.standard_normal(analog.shape, dtype=np.float32)
    return np.clip(np.rint(analog), 0, UINT16_MAX).astype(np.uint16)
