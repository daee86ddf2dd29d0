"""An image in detected electrons, and its noise: what the detector's calibration says.

A HAADF pixel reads b + g R(n + d) + r: b the black level, g counts per electron, n the
detected electrons (Poisson, each pulse's height gamma-spread: variance (1 + 1/k) n), d the
PMT's dark noise, R the detector's first-order response along the raster (a = exp(-dwell /
tau)) and r the amplifier's noise. So the expected image is linear in the electrons and its
variance is A e + B in electron units, with A = kappa (1 + 1/k) and B = kappa d^2 + (r/g)^2,
kappa = (1 - a) / (1 + a) the response's share of white noise.

b and g come from the instrument profile (calibrated on real files: `cimp calibrate`) and
the file's gain and offset; a file that records no offset gets its black level from its
darkest region, and says so. The generalised Anscombe transform of A e + B makes the noise
of unit variance at every level: the U-Net reads that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from cimp.errors import CimpError
from cimp.instrument.detector import DETECTOR, Detector, black_level, counts_per_electron

DARK_BLOCK = 16  # px: the black level of a file without an offset is its darkest block's mean
NOISE_BLOCK, NOISE_BINS, QUIET = 8, 12, 0.1  # from_noise: block side, levels, quantile kept
ROUNDING = 1.0 / 12.0  # counts^2: the variance of rounding to whole counts


@dataclass(frozen=True)
class Calibration:
    """How counts relate to detected electrons in one image, and the noise they carry."""

    black: float  # counts with no electrons
    gain: float  # counts per detected electron
    response: float  # a = exp(-dwell / tau): the raster response's memory
    excess: float  # 1 + 1/k: pulse-height spread of the variance
    dark: float  # PMT dark noise, electrons, before the response
    read: float  # amplifier noise, counts
    black_from: str = "profile"  # or "image": its darkest block
    gain_from: str = "profile"  # or "image": its noise (`from_noise`)
    response_known: bool = True  # False: no dwell time recorded, the response left out

    @property
    def kappa(self) -> float:
        """The share of white noise's variance the raster response lets through."""
        return (1.0 - self.response) / (1.0 + self.response)

    @property
    def slope(self) -> float:
        """A: variance per electron of signal, in electrons^2."""
        return self.kappa * self.excess

    @property
    def floor(self) -> float:
        """B: variance with no signal, in electrons^2 (dark, amplifier and rounding)."""
        return self.kappa * self.dark**2 + (self.read**2 + ROUNDING) / self.gain**2

    def electrons(self, counts):
        """Counts -> detected electrons (numpy or torch)."""
        return (counts - self.black) / self.gain

    def counts(self, electrons):
        """Detected electrons -> counts."""
        return self.black + self.gain * electrons

    def filtered_variance(self, e_level, taps: np.ndarray):
        """Variance (electrons^2) of the image filtered by `taps` (a normalised 1-D filter,
        applied along lines and across them) where its expected level is `e_level`: the
        response correlates neighbours along a line, lines are independent."""
        taps = np.asarray(taps, dtype=np.float64)
        pairs = np.correlate(taps, taps, mode="full")  # sum_i w_i w_(i+k), k = -(n-1)..n-1
        lags = np.abs(np.arange(-(len(taps) - 1), len(taps)))
        along = float(np.sum(pairs * self.response**lags))
        power = float(np.sum(taps**2))
        white = self.excess * np.asarray(e_level) + self.dark**2
        return self.kappa * white * along * power + (self.read**2 + ROUNDING) / self.gain**2 * (
            power**2
        )

    def binned_variance(self, e_binned, size: int = 4):
        """Variance (electrons^2) of the mean of a size x size block of expected mean
        `e_binned`."""
        return self.filtered_variance(e_binned, np.full(size, 1.0 / size))


def stabilise(e: torch.Tensor, slope, floor) -> torch.Tensor:
    """Generalised Anscombe transform of variance slope * e + floor: unit noise variance at
    every level (slope and floor: floats, or tensors that broadcast against `e`)."""
    return (2.0 / slope) * torch.sqrt(torch.clamp(slope * e + 0.375 * slope**2 + floor, min=0.0))


def stabilised(e: np.ndarray, cal: Calibration) -> np.ndarray:
    """`stabilise` of an image of electrons (H, W) under its calibration, float64."""
    z = stabilise(torch.from_numpy(np.asarray(e, dtype=np.float64)), cal.slope, cal.floor)
    return z.numpy()


def unstabilise(z: torch.Tensor, slope, floor) -> torch.Tensor:
    """The algebraic inverse of `stabilise` (the U-Net learns its bias away) on z >= 0, its
    range; z below it reads as 0 (squared, a far negative z would read as a bright level:
    one U-Net's -10^4 on a dark, clipped image read as the detector's top)."""
    return ((slope * z.clamp_min(0.0) / 2.0).square() - 0.375 * slope**2 - floor) / slope


def calibrate(
    metadata: dict, image: np.ndarray | None = None, detector: Detector = DETECTOR
) -> Calibration:
    """The calibration of an image with `metadata` on the profile's `detector`.

    What the file does not record is read from the image: a missing offset from its darkest
    block (right only when it shows vacuum), a missing gain from its noise (`from_noise`); a
    missing dwell time leaves the detector's response out (right for dwell times well above
    the response's).
    """
    dwell = _recorded(metadata, "dwell_time")
    offset = _recorded(metadata, "detector_offset")
    if offset is not None:
        black, black_from = black_level(offset, detector), "profile"
    elif image is not None:
        black, black_from = darkest_block(image), "image"
    else:
        raise CimpError("no detector offset recorded and no image to read the black level from")
    cal = Calibration(
        black=float(black),
        gain=1.0,
        response=0.0 if dwell is None else float(np.exp(-dwell / detector.response_us)),
        excess=1.0 + 1.0 / detector.pulse_shape,
        dark=detector.dark_noise,
        read=detector.read_noise,
        black_from=black_from,
        response_known=dwell is not None,
    )
    gain = _recorded(metadata, "detector_gain")
    if gain is not None:
        return replace(cal, gain=float(counts_per_electron(gain, detector)))
    if image is None:
        raise CimpError("no detector gain recorded and no image to read the noise from")
    return from_noise(cal, image)


def from_noise(cal: Calibration, image: np.ndarray) -> Calibration:
    """`cal` with the counts per electron and the noise floor the image's own noise gives.

    Without a recorded gain, the noise is measured: in 8 x 8 blocks, the variance of the
    difference of vertical neighbours (the response correlates pixels along a line, not
    across lines) against the block's mean, the quietest blocks of each level kept (specimen
    structure only adds variance); the line var = gain A (mean - black) + floor through them
    gives gain = slope / A and the floor. The dark and read noise are folded into one floor.
    Noise that does not grow measurably with the signal gets a gain that says so (shot noise
    a tenth of the floor at the brightest level).
    """
    x = image.astype(np.float64)
    h, w = (s // NOISE_BLOCK * NOISE_BLOCK for s in x.shape)
    if h < 2 * NOISE_BLOCK or w < 2 * NOISE_BLOCK:
        raise CimpError(
            "no detector gain recorded, and the image is too small to measure its noise"
        )
    d = (x[1:h, :w] - x[: h - 1, :w])[: h - NOISE_BLOCK] ** 2 / 2.0
    blocks = (h - NOISE_BLOCK) // NOISE_BLOCK
    shape = (blocks, NOISE_BLOCK, w // NOISE_BLOCK, NOISE_BLOCK)
    var = d[: blocks * NOISE_BLOCK].reshape(shape).mean(axis=(1, 3)).ravel()
    level = x[: blocks * NOISE_BLOCK, :w].reshape(shape).mean(axis=(1, 3)).ravel() - cal.black
    edges = np.quantile(level, np.linspace(0, 1, NOISE_BINS + 1))
    which = np.clip(np.searchsorted(edges, level, side="right") - 1, 0, NOISE_BINS - 1)
    points = np.array(
        [
            (np.median(level[which == b]), np.quantile(var[which == b], QUIET))
            for b in range(NOISE_BINS)
            if np.count_nonzero(which == b) >= 4
        ]
    )
    slope, floor = np.polyfit(points[:, 0], points[:, 1], 1)
    floor = max(floor, float(points[:, 1].min()) / 2, 1.0)
    top = max(float(points[:, 0].max()), 1.0)
    # noise that does not grow measurably with the signal: shot noise at most a tenth of
    # the floor at the brightest level (a gain, and so a noise model, that says as much)
    slope = max(slope, 0.1 * floor / top)
    gain = slope / cal.slope
    floor_e = floor / gain**2  # electrons^2, all of it as the amplifier's
    return replace(
        cal, gain=float(gain), dark=0.0, read=float(np.sqrt(floor_e) * gain), gain_from="image"
    )


def darkest_block(image: np.ndarray, block: int = DARK_BLOCK) -> float:
    """The mean of the darkest block x block tile: the black level if the image shows vacuum."""
    h, w = (s // block * block for s in image.shape)
    if h == 0 or w == 0:
        return float(np.min(image))
    tiles = image[:h, :w].astype(np.float64).reshape(h // block, block, w // block, block)
    return float(tiles.mean(axis=(1, 3)).min())


def _recorded(metadata: dict, name: str) -> float | None:
    value = metadata.get(name)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None
