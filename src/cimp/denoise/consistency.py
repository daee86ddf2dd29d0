"""The output must say what the input says: agreement of local means within the noise.

Whatever the U-Net draws, the clean image seen through Gaussian windows (from 1.2 px, the
noise averaging of a 4 x 4 block, to 19 px) must lie within `LIMIT` standard deviations of
the input seen through the same window, the deviation being the input's noise
(`Calibration.filtered_variance`). Where it strays, `project` moves it back to that bound
(and hands back the input itself where it strays far), so an object the input does not show
cannot appear and one it shows cannot vanish. A window, not block means: a correction made
of block means would carry a fine lattice's aliases into the output as new reflections;
the window's is smooth.
Where the output will read saturated (above the detector's top at the target dose), it
says only "at least this much": the windows then compare the pixels it shows (normalised
windows), unless the input says the pixel is well below the top. Near the black level,
where readings clip at zero, only what would read unclipped is compared (`readable`).
`outside` measures the share of 4 x 4 blocks beyond 3 sigma, the check the tests and the
benchmark report.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import ndtr, ndtri

from cimp.denoise.electrons import Calibration

BLOCK = 4  # px: the blocks `outside` checks
WINDOWS = (19.2, 4.8, 1.2)  # px: the Gaussians `project` compares through, coarse to fine
# sigma: `project` moves what strays beyond this back to it; a margin below the 3 sigma
# `outside` checks, since near a sharp edge a 4 x 4 block strays further than a window
LIMIT = 2.75
# sigma: `project`'s limit for an image outside the training domain, whose U-Net output is
# trusted less (a real file can draw more blocks beyond 3 sigma than the twin's images)
OUT_OF_DOMAIN = 2.5
GROSS = 2.0  # x the limit: beyond this (finest window) the input itself is handed back
ROUNDS = 4  # of the smooth correction, per window (slow to converge at sharp features)
UNCLIPPED = 0.99  # share of a window's weight on unclipped pixels needed to compare it
FFT_TAPS = 15  # windows longer than this are applied by FFT (same result, faster)
# px: images larger than this are windowed by FFT whatever the window (there even the
# finest window's convolution is slower than its FFT)
CONVOLVED = 512
# px: images up to this side are windowed by two matrix products (the same result; faster
# than convolutions and FFTs on small images, slower on large ones)
MATRIX = 256
# windows `blend` weighs the output against the input in; the finest, 1.2 px, is left out
# (at low doses a pixel's noise is its whole signal: that window would hand back the noise)
BLENDED = WINDOWS[:2]
BOUND = 1e30  # the output's error variance is read no higher (an untrained net's is wild)


def window_taps(sigma: float) -> np.ndarray:
    """The normalised 1-D Gaussian of a window, to 3.5 sigma."""
    radius = int(np.ceil(3.5 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return taps / taps.sum()


def fitted_taps(sigma: float, h: int, w: int) -> np.ndarray:
    """The window's taps cut to what an image of h x w px can mirror, renormalised."""
    taps = window_taps(sigma)
    r = min(len(taps) // 2, h - 1, w - 1)
    taps = taps[len(taps) // 2 - r : len(taps) // 2 + r + 1]
    return taps / taps.sum()


def windowed(x: torch.Tensor, sigma: float = WINDOWS[-1], squared: bool = False) -> torch.Tensor:
    """(B, 1, H, W) seen through a Gaussian window (mirrored at the borders); `squared`:
    through its squared weights, normalised (what a pixel's noise adds to the window's)."""
    h, w = x.shape[-2:]
    if max(h, w) <= MATRIX:
        rows, cols = (
            _window_matrix(sigma, n, h, w, squared=squared, dtype=x.dtype, device=x.device)
            for n in (h, w)
        )
        return rows @ x @ cols.T
    taps = torch.as_tensor(_taps(sigma, h, w, squared), dtype=x.dtype, device=x.device)
    r = len(taps) // 2
    x = F.pad(x, (r, r, r, r), mode="reflect")
    if len(taps) > FFT_TAPS or max(h, w) > CONVOLVED:
        return _correlate(_correlate(x, taps, -1), taps, -2)
    x = F.conv2d(x, taps.view(1, 1, 1, -1))
    return F.conv2d(x, taps.view(1, 1, -1, 1))


def _taps(sigma: float, h: int, w: int, squared: bool) -> np.ndarray:
    """`windowed`'s taps on an h x w image: the window's, or their squares normalised."""
    taps = fitted_taps(sigma, h, w)
    return np.square(taps) / np.square(taps).sum() if squared else taps


@lru_cache(maxsize=64)
def _window_matrix(sigma: float, n: int, h: int, w: int, *, squared: bool, dtype, device):
    """(n, n) `windowed` along an axis of n px of an h x w image, its mirror folded in."""
    taps = _taps(sigma, h, w, squared)
    r = len(taps) // 2
    out = np.repeat(np.arange(n), 2 * r + 1)
    source = np.abs(out + np.tile(np.arange(-r, r + 1), n))
    source = np.where(source > n - 1, 2 * (n - 1) - source, source)
    matrix = np.zeros((n, n))
    np.add.at(matrix, (out, source), np.tile(taps, n))
    return torch.from_numpy(matrix).to(dtype=dtype, device=device)


class Seen:
    """An input (B, 1, H, W) in electrons and its views through the windows, each computed
    once: `readable`, `shown`, `blend` and `project` all look at it through the same ones."""

    def __init__(self, electrons: torch.Tensor):
        self.electrons = electrons
        self._views: dict[float, torch.Tensor] = {}

    def through(self, sigma: float = WINDOWS[-1]) -> torch.Tensor:
        if sigma not in self._views:
            self._views[sigma] = windowed(self.electrons, sigma)
        return self._views[sigma]


def seen_of(electrons: torch.Tensor | Seen) -> Seen:
    """`electrons` as a `Seen` (its own, when one is given: its views are shared)."""
    return electrons if isinstance(electrons, Seen) else Seen(electrons)


def _correlate(x: torch.Tensor, taps: torch.Tensor, dim: int) -> torch.Tensor:
    """x along `dim` correlated with `taps`, valid part only (as conv2d gives it), by FFT."""
    n = x.shape[dim]
    spectrum = torch.fft.rfft(x, n=n, dim=dim) * torch.fft.rfft(taps, n=n).conj().view(
        (-1,) + (1,) * (-dim - 1)
    )
    y = torch.fft.irfft(spectrum, n=n, dim=dim)
    return y.narrow(dim, 0, n - len(taps) + 1)


def project(
    clean: torch.Tensor,
    electrons: torch.Tensor | Seen,
    floor,
    slope,
    *,
    valid=None,
    top=None,
    limit: float = LIMIT,
):
    """`clean` (B, 1, H, W) brought within `limit` sigma of the input through every window.

    Where the output strays beyond GROSS x `limit` sigma in the finest window (something the
    input does not show, or the lack of something it does), the input itself is handed back,
    smoothly around it. Then, window by window from the coarsest (a level bias, small
    beside one pixel's noise, is plain over many), whatever still strays beyond `limit` is
    moved back by its windowed excess only: a smooth field, and a stray of noise size is
    barely touched (which matters where the signal is tiny beside the noise). `floor` and
    `slope` (B, len(WINDOWS)) describe each window's noise: var = slope * level + floor.
    `valid` (B, 1, H, W) marks the pixels where the noise model holds: input pixels not
    clipped at either end of the detector's range, where readings would not clip either
    (`readable`); a window with more than a little else (1 - UNCLIPPED of its weight) is
    not compared. `top` (B,) is the clean level at which the output saturates (`shown`).
    """
    windows = _Compared(clean, seen_of(electrons), floor, slope, valid=valid, top=top)
    electrons = windows.inp.electrons
    keep = 1.0 if windows.mask is None else windows.mask  # what the corrections may move
    views = [windows.view(i) for i in range(len(WINDOWS))]
    seen, sd = views[-1]  # the finest first: hand back what is far off
    off = (seen - windows.through(clean, len(WINDOWS) - 1)).abs() / (limit * sd)
    gross = F.max_pool2d((off - GROSS).clamp(0.0, 1.0), 3, stride=1, padding=1)
    moved = windowed(gross).clamp(0.0, 1.0)
    clean = clean + moved * keep * (electrons - clean)
    for i, (seen, sd) in enumerate(views):
        bound = limit * sd
        for _ in range(ROUNDS):
            residual = seen - windows.through(clean, i)
            excess = residual - torch.maximum(torch.minimum(residual, bound), -bound)
            if not bool(excess.any()):
                break  # nothing strays: the next rounds would move nothing either
            clean = clean + excess * keep
    return clean


class _Compared:
    """What `project` compares through each window: the pixels the output shows (all, or
    those below the level where it saturates), the input there and its noise."""

    def __init__(self, clean: torch.Tensor, inp: Seen, floor, slope, *, valid, top):
        self.inp, self.floor, self.slope, self.valid = inp, floor, slope, valid
        self.mask = mask = shown(clean, inp, floor, slope, top=top)
        self.shares = [None if mask is None else windowed(mask, s).clamp_min(1e-6) for s in WINDOWS]
        self.squares = [None if mask is None else windowed(mask, s, squared=True) for s in WINDOWS]
        self.clipped = valid is not None and not bool(valid.all())

    def through(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """x's mean over the shown pixels of window i (all of them when all are shown)."""
        if self.mask is None:
            return windowed(x, WINDOWS[i])
        return windowed(x * self.mask, WINDOWS[i]) / self.shares[i]

    def view(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The input through window i, and its noise there (inf: not compared)."""
        inp = self.inp
        seen = inp.through(WINDOWS[i]) if self.mask is None else self.through(inp.electrons, i)
        noise = variance(seen, self.floor, self.slope, i)
        compared = torch.ones_like(seen, dtype=torch.bool)
        if self.mask is not None:  # fewer pixels, more noise (under their squared weights: a
            # few at a window's centre are noisier than their share); mostly saturated: none
            shares = self.shares[i]
            noise, compared = noise * self.squares[i] / shares.square(), shares > 0.05
        if self.clipped:
            compared &= windowed(self.valid.to(seen.dtype), WINDOWS[i]) > UNCLIPPED
        return seen, torch.where(compared, noise.sqrt(), torch.inf)


def blend(
    clean: torch.Tensor, electrons: torch.Tensor | Seen, floor, slope, *, valid=None, top=None
):
    """`clean` (B, 1, H, W) weighed against the input through the BLENDED windows, coarse to
    fine: two estimates of each window's level, the output's (its error's variance s2, one
    number per image) and the input's (its noise's variance v, known), combined as
    (v * output + s2 * input) / (s2 + v). s2 is read from the image itself: the mean
    squared difference of the two, less the noise's share. An output that agrees with the
    input within the noise (s2 = 0) is kept as it is; one whose level is off everywhere
    follows the input by as much as its error outweighs the noise. Only windows of `valid`
    pixels (`project`) that the output shows unsaturated (`shown`) are compared and moved.
    """
    return blend_gains(clean, electrons, floor, slope, valid=valid, top=top)[0]


def blend_gains(clean, electrons: torch.Tensor | Seen, floor, slope, *, valid=None, top=None):
    """(`blend`'s output, its gains per window (B, 1, H, W): how far each pixel moved to
    the input's level in that window, s2 / (s2 + v), 0 where not compared)."""
    shape, inp = (-1, 1, 1, 1), seen_of(electrons)
    mask = shown(clean, inp, floor, slope, top=top)
    usable = torch.ones_like(clean) if valid is None else valid.to(clean.dtype)
    usable = usable if mask is None else usable * mask
    gains = []
    for i, sigma in enumerate(BLENDED):
        seen = inp.through(sigma)
        output, covered = windowed(torch.cat([clean, usable]), sigma).chunk(2)  # one pass
        diff = seen - output
        noise = variance(seen, floor, slope, i)
        compared = (covered > UNCLIPPED).to(clean.dtype)
        excess = ((diff.square() - noise) * compared).mean(dim=(1, 2, 3))
        share = compared.mean(dim=(1, 2, 3)).clamp_min(1e-6)
        s2 = (excess / share).clamp(0.0, BOUND).view(shape)
        gains.append(compared * (s2 / (s2 + noise)))
        clean = clean + gains[-1] * diff
    return clean.clamp_min(0.0), gains


def blend_change(change: torch.Tensor, gains: list[torch.Tensor]) -> torch.Tensor:
    """What of a `change` (B, 1, H, W) to an output survives a blend of these `gains`
    (`blend_gains`), held fixed: the blend's linear part."""
    for gain, sigma in zip(gains, BLENDED, strict=True):
        change = change - gain * windowed(change, sigma)
    return change


def shown(clean: torch.Tensor, electrons: torch.Tensor | Seen, floor, slope, *, top):
    """(B, 1, H, W) 1 where the output shows the clean level, 0 where it will read saturated
    and the input (finest window) agrees that it is near the top or above it; None when
    nothing saturates. `floor`, `slope` (B, len(WINDOWS)): each window's noise."""
    if top is None:
        return None
    top = top.view(-1, 1, 1, 1)
    seen = seen_of(electrons).through()
    below = seen < top - LIMIT * variance(seen, floor, slope, -1).sqrt()
    mask = ((clean < top) | below).to(clean.dtype)
    return None if bool(mask.all()) else mask


def variance(seen: torch.Tensor, floor, slope, i: int) -> torch.Tensor:
    """The input's noise variance through window i at the windowed level `seen`
    (B, 1, H, W); `floor`, `slope` (B, len(WINDOWS)): var = slope * level + floor inside
    the image, more near its borders (`border_excess`)."""
    shape = (-1, 1, 1, 1)
    inside = slope[:, i].view(shape) * seen.clamp_min(0) + floor[:, i].view(shape)
    return inside * border_excess(*seen.shape[-2:], WINDOWS[i]).to(seen)


@lru_cache(maxsize=32)
def border_excess(h: int, w: int, sigma: float) -> torch.Tensor:
    """(h, w) the noise variance a window sees at each pixel of an h x w image over what
    `window_noise` says (a window far from the borders of a large image): the mirrored
    padding counts a pixel near a border twice (1.5x the variance on a border row of the
    1.2 px window, 2.3x in a corner), and a small image cuts the window short. The ratio
    is white noise's; it scales the line-correlated noise alike (an approximation)."""
    taps, full = fitted_taps(sigma, h, w), np.square(window_taps(sigma)).sum()
    return torch.from_numpy(np.outer(*(_mirrored_power(n, taps) / full for n in (h, w)))).float()


def _mirrored_power(n: int, taps: np.ndarray) -> np.ndarray:
    """(n,) sum of the squared weights `taps` puts on each source pixel, applied with
    mirrored padding at each of n positions along an axis."""
    r = len(taps) // 2
    near = np.unique(np.r_[np.arange(min(r, n)), np.arange(max(n - r, 0), n)])  # others: inside
    source = np.abs(near[:, None] + np.arange(-r, r + 1)[None, :])
    source = np.where(source > n - 1, 2 * (n - 1) - source, source)
    weights = np.zeros((len(near), n))
    rows = np.repeat(np.arange(len(near)), 2 * r + 1)
    np.add.at(weights, (rows, source.ravel()), np.tile(taps, len(near)))
    out = np.full(n, np.square(taps).sum())
    out[near] = np.square(weights).sum(axis=1)
    return out


def window_noise(cal: Calibration) -> tuple[list[float], list[float]]:
    """(slopes, floors) of each window's noise: var = slope * level + floor."""
    slopes, floors = [], []
    for sigma in WINDOWS:
        taps = window_taps(sigma)
        floor = float(cal.filtered_variance(0.0, taps))
        slopes.append(float(cal.filtered_variance(1.0, taps)) - floor)
        floors.append(floor)
    return slopes, floors


def residuals(image: np.ndarray, output: np.ndarray, ratio: float, cal: Calibration):
    """(per pixel, per 4x4 block) differences of the input from what the output, taken back
    to the source dose, says the input should read, in units of the input's noise (at the
    output's level). What it should read: the output's level, clipped as the detector clips
    (at 0 and the top of an integer range), so that a heavily clipped input is compared
    without bias. NaN where the output is saturated at the target dose: nothing to compare."""
    e_in = cal.electrons(image.astype(np.float64))
    e_out = np.maximum(cal.electrons(output.astype(np.float64)) / ratio, 0.0)
    sd = np.sqrt(cal.slope * e_out + cal.floor)
    expected = cal.electrons(_clipped_mean(cal.counts(e_out), sd * cal.gain, image.dtype))
    pixel = (e_in - expected) / sd
    pixel[~unclipped(image, output)] = np.nan
    h, w = (s // BLOCK * BLOCK for s in image.shape)

    def blocks(x: np.ndarray) -> np.ndarray:
        return x[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3))

    sigma = np.sqrt(cal.binned_variance(blocks(e_out), BLOCK))
    block = (blocks(e_in) - blocks(expected)) / sigma
    block[np.isnan(blocks(pixel))] = np.nan
    return pixel, block


def _clipped_mean(mu: np.ndarray, sd: np.ndarray, dtype) -> np.ndarray:
    """E[min(max(X, 0), top)] for X ~ N(mu, sd^2): the mean reading of a clipping detector
    (no clipping for a float image)."""
    if np.dtype(dtype).kind not in "ui":
        return mu
    top = float(np.iinfo(dtype).max)
    a, b = (0.0 - mu) / sd, (top - mu) / sd
    inside = ndtr(b) - ndtr(a)
    density = (np.exp(-0.5 * a * a) - np.exp(-0.5 * b * b)) / np.sqrt(2 * np.pi)
    return top * (1.0 - ndtr(b)) + mu * inside + sd * density


def unclipped(image: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    """Where the image's pixels lie inside its integer range, ends excluded (all of a float
    image); with `values` (an output), where they lie below its top."""
    shape = image.shape if values is None else values.shape
    if image.dtype.kind not in "ui":
        return np.ones(shape, dtype=bool)
    top = np.iinfo(image.dtype).max
    return (image > 0) & (image < top) if values is None else values < top


def readable(clean: torch.Tensor, e: torch.Tensor | Seen, cal: Calibration, dtype, *, share=0.01):
    """(B, 1, H, W) bool: where a reading would clip at either end of the detector's integer
    range less than `share` of the time (everywhere for a float image): at zero at the level
    the output says or the input's 4.8 px window, whichever is higher (electrons `clean`,
    `e`), at the top at the input's. The hold compares only windows of these (and of input
    pixels that did not clip): keeping only windows whose own noisy pixels all stayed above
    zero keeps readings that noise pushed up, and would lift a dark output to them; the
    input's smooth level keeps a bright object the output lost in the comparison, and an
    output that claims the top where the input reads well below it is compared, not
    excused."""
    if np.dtype(dtype).kind not in "ui":
        return torch.ones_like(clean, dtype=torch.bool)
    seen = seen_of(e).through(WINDOWS[1])
    z = float(ndtri(1.0 - share))

    def reading(level: torch.Tensor, sign: float) -> torch.Tensor:
        return cal.counts(level) + sign * z * cal.gain * (cal.slope * level + cal.floor).sqrt()

    top = float(np.iinfo(dtype).max)
    return (reading(torch.maximum(clean, seen), -1.0) > 0) & (reading(seen, 1.0) < top)


def outside(
    image: np.ndarray, output: np.ndarray, ratio: float, cal: Calibration, *, sigmas: float = 3.0
) -> float:
    """Share of 4x4 blocks (saturated ones left out) where the input differs from what the
    output, taken back to the source dose, says it should read by more than `sigmas` of the
    input's noise (noise alone: 0.27 % beyond 3)."""
    block = residuals(image, output, ratio, cal)[1]
    known = np.isfinite(block)
    return float(np.mean(np.abs(block[known]) > sigmas)) if known.any() else 0.0
