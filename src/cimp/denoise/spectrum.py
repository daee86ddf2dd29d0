"""Lattice contrast in an image's power spectrum: the honesty checks of dose transfer.

A crystal shows as sharp peaks in the power spectrum, each far above the mean power at its
spatial frequency; noise and smooth amorphous contrast do not. `ring_contrast` measures
that, `lattice_peaks` says where the lattice's reflections are, `invented_reflections` which
of an output's reflections the specimen does not have.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter


def power_spectrum(image: np.ndarray) -> np.ndarray:
    """|FFT|^2 of the mean-free image under a Hann window, zero frequency at the centre."""
    x = image.astype(np.float64)
    window = np.outer(np.hanning(x.shape[0]), np.hanning(x.shape[1]))
    return np.abs(np.fft.fftshift(np.fft.fft2((x - x.mean()) * window))) ** 2


def _radius(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    y, x = np.mgrid[:h, :w]
    return np.hypot((y - h // 2) * w / h, x - w // 2)


def ring_contrast(image: np.ndarray, min_radius: int = 4) -> np.ndarray:
    """Power divided by the mean power of its ring of equal spatial frequency (1-bin rings),
    NaN below `min_radius` bins from zero frequency."""
    power = power_spectrum(image)
    ring = np.rint(_radius(power.shape)).astype(int)
    mean = np.bincount(ring.ravel(), power.ravel()) / np.bincount(ring.ravel())
    out = power / np.maximum(mean[ring], 1e-300)
    out[ring < min_radius] = np.nan
    return out


def lattice_contrast(image: np.ndarray) -> float:
    """The largest ring contrast: about 10 for noise or amorphous texture, hundreds for a
    crystal's lattice."""
    return float(np.nanmax(ring_contrast(image)))


def lattice_peaks(image: np.ndarray, threshold: float = 20.0) -> np.ndarray:
    """(n, 2) offsets (row, col) from zero frequency of the spectral peaks whose ring
    contrast exceeds `threshold` (local maxima), strongest first."""
    contrast = np.nan_to_num(ring_contrast(image), nan=0.0)
    local_max = contrast >= maximum_filter(contrast, size=3, mode="constant")
    rows, cols = np.nonzero((contrast > threshold) & local_max)
    order = np.argsort(-contrast[rows, cols])
    h, w = contrast.shape
    return np.stack([rows[order] - h // 2, cols[order] - w // 2], axis=1)


def invented_reflections(output: np.ndarray, truth: np.ndarray, margin: float = 10.0):
    """(offsets (n, 2), strength (n,)) of the reflections of `output` (`lattice_peaks`) with
    more than `margin` times the power `truth` (the noise-free image, at the output's
    scale) has within one bin of them; strength: each one's power over the output's
    strongest reflection, in dB."""
    found = lattice_peaks(output)
    if not len(found):
        return found, np.zeros(0)
    h, w = output.shape
    rows, cols = found[:, 0] + h // 2, found[:, 1] + w // 2
    out_power = power_spectrum(output)[rows, cols]
    near = maximum_filter(power_spectrum(truth), size=3, mode="constant")[rows, cols]
    invented = out_power > margin * near
    strength = 10.0 * np.log10(out_power[invented] / out_power.max())
    return found[invented], strength
