"""What the detector physics says a crop's pixels carry, as a fixed vector per crop (torch).

The CNN learns shapes; these statistics hand it what it reads poorly from a few layers of
3 x 3 convolutions and batch norm (`model.CNNEncoder` fuses both):
- intensity levels (quantiles, mean) and the share of pixels clipped at either end: black
  level (offset), signal and saturation (gain, dose);
- noise: spread of neighbour differences along each scan axis, and the photon-transfer
  line of 8 px blocks (variance of row-to-row differences against the block mean: its slope
  is counts per detected electron, its intercept the noise floor): gain and dose;
- the detector response: how the noise correlates along the fast axis (short dwell times
  smear it) and along the slow one;
- line statistics: the spread of row and column means (line jitter and flyback grow with
  the frame time);
- the radial power spectrum, relative to Nyquist, in log bins, and its strongest ring:
  lattice periods in pixels (pixel size), the probe's blur (convergence, current).

Inputs are counts times the run's fixed intensity scale, never normalised per image. No
gradient flows through these statistics.
"""

from __future__ import annotations

import functools
import math

import torch

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
SPECTRUM_BINS = 12
BLOCK = 8
SOFTNESS = 1e-3  # as model.InputTransform: single electrons and saturation both visible
TINY = 1e-12
SUBSAMPLE = 3
SIZE = len(QUANTILES) + 3 + 2 + 2 + 4 + 2 + SPECTRUM_BINS + 1


def _compress(x: torch.Tensor) -> torch.Tensor:
    return torch.asinh(x / SOFTNESS) / math.asinh(1.0 / SOFTNESS)


def _log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x.clamp_min(TINY))


def _lag_correlation(d: torch.Tensor, dim: int) -> torch.Tensor:
    """Correlation of a difference image (mean ~0) with itself shifted by one along `dim`."""
    n = d.shape[dim] - 1
    a, b = d.narrow(dim, 1, n), d.narrow(dim, 0, n)
    return (a * b).mean(dim=(1, 2)) / (d.square().mean(dim=(1, 2)) + TINY)


@functools.lru_cache(maxsize=8)
def _rings(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-spaced radial bin (or -1) of every rfft2 frequency, and each frequency's radius."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    radius = torch.hypot(fx, fy)
    edges = torch.logspace(math.log10(1.0 / max(h, w)), math.log10(0.71), SPECTRUM_BINS + 1)
    which = torch.bucketize(radius, edges) - 1
    which[(which < 0) | (which >= SPECTRUM_BINS)] = -1
    return which.flatten(), radius.flatten()


def _spectrum(x: torch.Tensor) -> torch.Tensor:
    """Share of the power in each radial bin (log), and the radius of the strongest ring."""
    b, h, w = x.shape
    power = torch.fft.rfft2(x - x.mean(dim=(1, 2), keepdim=True)).abs().square().flatten(1)
    which, radius = (t.to(x.device) for t in _rings(h, w))
    inside = which >= 0
    binned = torch.zeros(b, SPECTRUM_BINS, device=x.device, dtype=power.dtype)
    binned.index_add_(1, which[inside], power[:, inside])
    share = binned / (binned.sum(dim=1, keepdim=True) + TINY)
    ring = radius > 2.0 / max(h, w)
    peak = radius[ring][power[:, ring].argmax(dim=1)]
    return torch.cat([_log(share), peak[:, None]], dim=1)


def _photon_transfer(x: torch.Tensor) -> torch.Tensor:
    """Slope and intercept of block variance against block mean (signed logs), and the 10th
    and 50th percentiles of the block variances (logs)."""
    b, h, w = x.shape
    rows = (x[:, 1:] - x[:, :-1]) / math.sqrt(2.0)
    hh, ww = (h - 1) // BLOCK * BLOCK, w // BLOCK * BLOCK

    def blocks(t: torch.Tensor) -> torch.Tensor:
        t = t[:, :hh, :ww].reshape(b, hh // BLOCK, BLOCK, ww // BLOCK, BLOCK)
        return t.transpose(2, 3).reshape(b, -1, BLOCK * BLOCK)

    mean = blocks(x[:, :-1]).mean(dim=2)
    var = blocks(rows).var(dim=2)
    dm = mean - mean.mean(dim=1, keepdim=True)
    slope = (dm * var).mean(dim=1) / (dm.square().mean(dim=1) + TINY)
    intercept = var.mean(dim=1) - slope * mean.mean(dim=1)
    levels = torch.quantile(var, torch.tensor([0.1, 0.5], device=x.device), dim=1).T

    def signed_log(t: torch.Tensor) -> torch.Tensor:
        return torch.sign(t) * torch.log1p(t.abs() / 1e-6)

    return torch.cat([signed_log(slope)[:, None], signed_log(intercept)[:, None], _log(levels)], 1)


@torch.no_grad()
def statistics(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) crops in model units -> (B, SIZE) statistics, finite."""
    x = x.float()[:, 0].contiguous()
    flat = x.flatten(1)
    sample = flat[:, ::SUBSAMPLE].sort(dim=1).values  # inner quantiles: every 3rd pixel
    ranks = (torch.tensor(QUANTILES[1:-1]) * (sample.shape[1] - 1)).round().long()
    low, high = flat.aminmax(dim=1)
    q = torch.cat([low[:, None], sample[:, ranks.to(x.device)], high[:, None]], dim=1)
    levels = [
        _compress(q),
        _compress(flat.mean(dim=1))[:, None],
        (flat <= 0).float().mean(dim=1, keepdim=True),
        (flat >= 1).float().mean(dim=1, keepdim=True),
    ]
    dx, dy = x[:, :, 1:] - x[:, :, :-1], x[:, 1:] - x[:, :-1]
    noise = torch.stack([_log(dx.std(dim=(1, 2))), _log(dy.std(dim=(1, 2)))], dim=1)
    response = torch.stack([_lag_correlation(dy, 2), _lag_correlation(dx, 1)], dim=1)
    lines = torch.stack([_log(x.mean(dim=2).std(dim=1)), _log(x.mean(dim=1).std(dim=1))], 1)
    out = torch.cat([*levels, noise, response, _photon_transfer(x), lines, _spectrum(x)], dim=1)
    return torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
