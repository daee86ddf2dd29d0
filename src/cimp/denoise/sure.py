"""How much of the local Wiener guide the output takes, chosen per image without the truth.

The U-Net reads the local guide beside the image (`wiener`), yet on some images the guide
alone is the better estimate (dim lattices under a few electrons of read noise, where the
U-Net draws blotches), and no gate on the image's statistics tells which images those
are. Stein's unbiased risk estimate (SURE) of the mean
squared error against the clean image of u + w (g - u), u the U-Net's estimate and g the
guide's (electrons), is quadratic in w; its minimum, clipped to [0, 1], is

    w = -(<u - y, d> + tr(S J_g) - tr(S J_u)) / |d|^2,    d = g - u,

y the image, S its noise's covariance, J the Jacobians. Each trace is read from one
perturbation of the image by noise of its own spectrum (Monte Carlo SURE, Ramani, Blu and
Unser 2008): tr(S J_f) ~ b . (f(y + eps b) - f(y)) / eps. That costs one more U-Net pass,
of at most REGION px square: a larger image's traces are read on its centre and scaled to
the whole; a smaller one's perturbed image (`probe`) can run in the same batch as the image
itself (`known`).
SURE holds where the noise model does: pixels whose readings may clip (near the black
level, at the detector's top at either dose) are left out, and an image with under half
its pixels left keeps the U-Net's estimate (clipped pixels would make SURE choose the guide
where it is far worse). Where u and g differ by little beside the noise (vacuum),
the share is mostly the noise's draw: one within SIGNIFICANT standard errors of the noise
in <u - y, d> is none.
The blend that follows (`consistency.blend`) moves the output's window levels toward the
input's, so the error that counts is the one after it: the share is chosen for B(u) + w P d,
B(u) the blended estimate, P the blend's linear part at its gains for u (`After`): chosen
for u + w d as it stands, the share would be too small where part of the error SURE sees
is one the blend removes anyway. The traces are read before the blend: a perturbation's
change is finer than the blend's windows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from cimp.denoise.electrons import Calibration, stabilise, unstabilise
from cimp.denoise.wiener import LOCAL, line_spectrum

EPS = 0.1  # the perturbation, in units of the noise
REGION = 256  # px: the largest square the traces are read on
MARGIN = 32  # px of a region's inner sides left out: its mirror there is not the image
MIN_SHARE = 0.5  # of an image's pixels SURE must read for a blend
# standard errors: a share the noise alone could give is none (on vacuum, where U-Net and
# guide differ by a few electrons, the noise would draw large shares and a grainier output)
SIGNIFICANT = 2.0
SEED = 0  # the perturbation's: the same image gets the same output

# electrons (h, w) of the image's rows (a slice) -> the U-Net's estimate at one grid
# placement and the local guide's, both stabilised (h, w)
Estimate = Callable[[np.ndarray, slice], tuple[np.ndarray, np.ndarray]]
# what follows the share, in electrons (H, W): the output at share 0 after it, and the part
# of a change to the output that survives it
After = tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]


def guide_share(
    u: np.ndarray,
    g: np.ndarray,
    e: np.ndarray,
    cal: Calibration,
    *,
    valid: np.ndarray,
    estimate: Estimate,
    known=None,
    after: After | None = None,
) -> float:
    """The SURE-optimal share w of the guide in u + w (g - u) (electrons (H, W)) for the
    image `e` (electrons), read over its `valid` pixels, as the output is `after` what
    follows (none: as it is); `estimate`, `known`: as `traces` reads them. 0 where under
    MIN_SHARE of the pixels are valid (`reads`)."""
    if not reads(valid):
        return 0.0
    base, survives = after if after is not None else (u, _unchanged)
    d = np.where(valid, survives(np.where(valid, g - u, 0.0)), 0.0)
    power = float(np.square(d).sum())
    if power <= 0.0:
        return 0.0
    t_u, t_g = traces(e, cal, estimate, valid, known=known)
    share = -(float(((base - e) * d).sum()) + t_g - t_u) / power
    if share < SIGNIFICANT * np.sqrt(_noise_power(d, u, cal)) / power:
        return 0.0
    return float(min(share, 1.0))


def _unchanged(change: np.ndarray) -> np.ndarray:
    return change


def _noise_power(d: np.ndarray, level: np.ndarray, cal: Calibration) -> float:
    """The variance of the image's noise projected on d (electrons (H, W)) at the clean
    `level`: d' S d, the noise correlated along the scan lines (`wiener.line_spectrum`)."""
    scaled = d * np.sqrt(cal.slope * np.maximum(level, 0.0) + cal.floor)
    spectrum = line_spectrum(cal, float(np.mean(level)), d.shape[1])
    return float((np.abs(np.fft.fft(scaled, axis=1)) ** 2 * spectrum).sum() / d.shape[1])


def traces(
    e: np.ndarray, cal: Calibration, estimate: Estimate, valid: np.ndarray, *, known=None
) -> tuple[float, float]:
    """tr(S J) of the U-Net's and the guide's estimates in electrons, summed over the `valid`
    pixels of the image `e` (read on its centre REGION, scaled to the whole); `known`:
    the image's `probe` and `estimate` of the image and of the probe's image, already
    computed (the region is the whole image)."""
    rows, cols = (_centre(n) for n in e.shape)
    sub = e[rows, cols]
    inside = np.zeros(sub.shape, dtype=bool)
    inside[_inner(rows, e.shape[0]), _inner(cols, e.shape[1])] = True
    inside &= valid[rows, cols]
    if not inside.any():
        return 0.0, 0.0
    if sub.shape == e.shape and known is not None:
        (_, step), before, after = known
    else:
        noisy, step = perturbed(sub, cal)
        before, after = estimate(sub, rows), estimate(noisy, rows)
    scale = valid.sum() / inside.sum()
    sums = []
    for b, a in zip(before, after, strict=True):
        change = _electrons(a, cal) - _electrons(b, cal)
        sums.append(scale * float((step * change)[inside].sum()) / EPS)
    return sums[0], sums[1]


def reads(valid: np.ndarray) -> bool:
    """Whether SURE reads an image with these `valid` pixels (whose readings cannot clip):
    at least MIN_SHARE of its pixels."""
    return bool(valid.mean() >= MIN_SHARE)


def probe(e: np.ndarray, cal: Calibration) -> tuple[np.ndarray, np.ndarray] | None:
    """`perturbed(e)`, whose image's estimate `traces` reads, for an image `e` (electrons)
    it reads whole (at most REGION px a side); None for a larger one."""
    return perturbed(e, cal) if max(e.shape) <= REGION else None


def perturbed(e: np.ndarray, cal: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """(the image moved by EPS of a draw of its own noise, in its stabilised units, and that
    draw in electrons (the move / EPS)): the scan lines' spectrum, `wiener.line_spectrum`."""
    noise = noise_like(cal, float(np.mean(e)), e.shape, np.random.default_rng(SEED))
    z = stabilise(torch.from_numpy(e.astype(np.float64)), cal.slope, cal.floor)
    moved = unstabilise(z + EPS * torch.from_numpy(noise), cal.slope, cal.floor).numpy()
    return moved.astype(np.float32), (moved - e) / EPS


def noise_like(cal: Calibration, e_mean: float, shape, rng) -> np.ndarray:
    """A draw (H, W) of the image's noise in its stabilised units at a level of `e_mean`
    electrons: unit variance, correlated along the scan lines (`wiener.line_spectrum`)."""
    white = rng.standard_normal(shape)
    gain = np.sqrt(line_spectrum(cal, e_mean, shape[1]))
    return np.fft.ifft(np.fft.fft(white, axis=1) * gain, axis=1).real


def _electrons(z: np.ndarray, cal: Calibration) -> np.ndarray:
    """Stabilised -> electrons, non-negative (as `render.finish`)."""
    e = unstabilise(torch.from_numpy(z.astype(np.float64)), cal.slope, cal.floor).numpy()
    return np.maximum(e, 0.0)


def _centre(n: int) -> slice:
    """The centre REGION px of an axis of n, starting on the grid of the local guide's
    windows, so that the region's windows are the image's (all of it when no longer)."""
    if n <= REGION:
        return slice(0, n)
    hop = LOCAL // 2
    start = (n - REGION) // 2 // hop * hop
    return slice(start, start + REGION)


def _inner(part: slice, n: int) -> slice:
    """The part of a region's axis away from its sides that are not the image's."""
    low = 0 if part.start == 0 else MARGIN
    high = part.stop - part.start - (0 if part.stop == n else MARGIN)
    return slice(low, high)
