"""The output must say what the input says: agreement of local means within the noise.

Whatever the U-Net draws, the clean image seen through a small Gaussian window (WINDOW px,
the noise averaging of a 4 x 4 block) must lie within `LIMIT` standard deviations of the
input seen through the same window, the deviation being the input's noise
(`Calibration.filtered_variance`). Where it strays, `project` hands back the input instead,
so an object the input does not show cannot appear and one it shows
cannot vanish. A window, not block means: a correction made of block means would carry a
fine lattice's aliases into the output as new reflections; the window's is smooth.
`outside` measures the share of 4 x 4 blocks beyond 3 sigma, the check the tests and the
benchmark report.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cimp.denoise.electrons import Calibration

BLOCK = 4  # px: the blocks `outside` checks
WINDOW = 1.2  # px: the Gaussian `project` compares through (about a 4 x 4 block's averaging)
LIMIT, FULL = 3.0, 4.0 / 3.0  # sigma: `project` hands back the input from LIMIT, all at FULL x


def window_taps(sigma: float = WINDOW) -> np.ndarray:
    """The normalised 1-D Gaussian of the window, to 3.5 sigma."""
    radius = int(np.ceil(3.5 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return taps / taps.sum()


def windowed(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) seen through the window (mirrored at the borders)."""
    taps = torch.as_tensor(window_taps(), dtype=x.dtype, device=x.device)
    r = len(taps) // 2
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, taps.view(1, 1, 1, -1))
    return F.conv2d(x, taps.view(1, 1, -1, 1))


def project(clean: torch.Tensor, electrons: torch.Tensor, floor, slope) -> torch.Tensor:
    """`clean` (B, 1, H, W), where it strays from the input through the window, replaced by
    the input itself: fully beyond FULL x LIMIT sigma, in part from LIMIT on, smoothly. The
    input, not a smoothed input: smoothing alone moves a sharp, bright edge's block means
    beyond its noise.

    `floor` and `slope` (B,) describe the windowed noise: var = slope * level + floor, at the
    input's windowed level (as the input's noise is).
    """
    shape = (-1, 1, 1, 1)
    seen = windowed(electrons)
    bound = LIMIT * (slope.view(shape) * seen.clamp_min(0) + floor.view(shape)).sqrt()
    stray = ((seen - windowed(clean)).abs() / bound - 1.0) / (FULL - 1.0)
    stray = F.max_pool2d(stray.clamp(0.0, 1.0), 3, stride=1, padding=1)  # and its neighbours
    weight = windowed(stray).clamp(0.0, 1.0)
    return clean + weight * (electrons - clean)


def window_noise(cal: Calibration) -> tuple[float, float]:
    """(slope, floor) of the windowed noise: var = slope * level + floor."""
    taps = window_taps()
    floor = float(cal.filtered_variance(0.0, taps))
    return float(cal.filtered_variance(1.0, taps)) - floor, floor


def residuals(image: np.ndarray, output: np.ndarray, ratio: float, cal: Calibration):
    """(per pixel, per 4x4 block) differences of the input from the output taken back to the
    source dose, in units of the input's noise (at the output's level per pixel, at the
    input's block mean per block); NaN where the output is clipped at the top of the input's
    integer range (saturated at the target dose: nothing to compare)."""
    e_in = cal.electrons(image.astype(np.float64))
    e_out = cal.electrons(output.astype(np.float64)) / ratio
    pixel = (e_in - e_out) / np.sqrt(cal.slope * np.maximum(e_out, 0.0) + cal.floor)
    if image.dtype.kind in "ui":
        pixel[output >= np.iinfo(image.dtype).max] = np.nan
    h, w = (s // BLOCK * BLOCK for s in image.shape)

    def blocks(x: np.ndarray) -> np.ndarray:
        return x[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3))

    mean_in = blocks(e_in)
    sigma = np.sqrt(cal.binned_variance(np.maximum(mean_in, 0.0), BLOCK))
    block = (mean_in - blocks(e_out)) / sigma
    block[np.isnan(blocks(pixel))] = np.nan
    return pixel, block


def outside(
    image: np.ndarray, output: np.ndarray, ratio: float, cal: Calibration, sigmas: float = 3.0
) -> float:
    """Share of 4x4 blocks (saturated ones left out) where the output, taken back to the
    source dose, differs from the input by more than `sigmas` of the input's noise (noise
    alone: 0.27 % beyond 3)."""
    block = residuals(image, output, ratio, cal)[1]
    known = np.isfinite(block)
    return float(np.mean(np.abs(block[known]) > sigmas)) if known.any() else 0.0
