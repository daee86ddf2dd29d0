"""How much of what the U-Net draws beyond the Fourier guide an image's electrons carry.

At a few detected electrons a pixel the residual U-Net leaves clouds and specks the
specimen does not have (it must cancel the image's noise pixel by pixel, and what it does
not cancel shows): at a few electrons a pixel a flat image at the output's own mean can
score above the output. No test on one image tells those clouds from signal. What the twin's
truth does tell is how much of the drawn structure is right on average at a given
signal-to-noise ratio. So the output becomes w + gain x (u - w): u the U-Net's clean
electrons, w the whole-image Wiener guide's (what the image's spectrum shows above its
noise: a lattice's reflections, flat where nothing stands out) moved to u's mean level,
the gain a function of the image's signal-to-noise ratio a pixel (`signal_to_noise`),
fitted after training on twin cases with known truth (`fit`): per bin of cases, the gain
on a grid that scores best (the training loss's PSNR + SSIM), made to grow with the ratio
(pool adjacent violators), at most 1. Toward the guide, not the image's flat mean: the
flat mean would lose lattices a faint image's spectrum shows. The blend and the hold that
follow give back what the input shows beyond its noise. A DRUN without a fitted gain keeps
all of the U-Net's structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

GRID = np.linspace(0.0, 1.0, 21)  # the gains tried per case
PER_BIN = 16  # cases per bin of the signal-to-noise ratio


def signal_to_noise(clean: torch.Tensor, slope: float, floor: float) -> float:
    """An image's signal-to-noise ratio a pixel: the level an electron of its clean estimate
    `clean` (electrons) lands at (sum of squares over sum: on a few bright atoms in vacuum
    the atoms' level, not the vacuum's) over the noise's standard deviation there."""
    total = float(clean.sum())
    level = float(clean.square().sum()) / total if total > 0 else 0.0
    return level / float(np.sqrt(max(slope * level + floor, 1e-12)))


@dataclass(frozen=True)
class StructureGain:
    """The share of the U-Net's structure kept, by log10 of the image's signal-to-noise
    ratio (`signal_to_noise`): interpolated between knots, the ends held beyond them."""

    knots: tuple[float, ...]
    gains: tuple[float, ...]

    def of(self, snr: float) -> float:
        return float(np.interp(np.log10(max(snr, 1e-12)), self.knots, self.gains))

    def to_dict(self) -> dict:
        return {"log10_snr": list(self.knots), "gain": list(self.gains)}

    @classmethod
    def saved(cls, d: dict | None) -> StructureGain | None:
        return None if d is None else cls(tuple(d["log10_snr"]), tuple(d["gain"]))


def shrunk(clean: torch.Tensor, gain: float | torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """Clean electrons (B, 1, H, W) with their departure from the whole-image Wiener
    guide's clean electrons `guide` (moved to the output's mean level) times `gain` (a
    number, or (G, 1, 1, 1) gains of one image: G images)."""
    if isinstance(gain, float) and gain >= 1.0:
        return clean
    mean = clean.mean(dim=(-2, -1), keepdim=True)
    toward = guide - guide.mean(dim=(-2, -1), keepdim=True) + mean
    return (toward + gain * (clean - toward)).clamp_min(0.0)


def fit(scores: np.ndarray, snr: np.ndarray) -> StructureGain:
    """The gain from `scores` (cases, len(GRID)): each case's score at each gain of GRID,
    and the cases' signal-to-noise ratios: the best gain per bin of PER_BIN cases (sorted by
    the ratio), non-decreasing in it, knots at the bins' median log10 ratios."""
    scored = np.isfinite(scores).any(axis=1)  # cases saturated all over tell nothing
    scores, snr = scores[scored], snr[scored]
    order = np.argsort(snr)
    bins = np.array_split(order, max(len(order) // PER_BIN, 1))
    knots = [float(np.median(np.log10(np.maximum(snr[b], 1e-12)))) for b in bins]
    best = [float(GRID[np.nanmean(scores[b], axis=0).argmax()]) for b in bins]
    return StructureGain(tuple(knots), tuple(_increasing(best, [len(b) for b in bins])))


def _increasing(values: list[float], weights: list[int]) -> list[float]:
    """The weighted least-squares non-decreasing fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([v, float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, w1, n1), (m2, w2, n2) = blocks.pop(-2), blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return [m for m, _, n in blocks for _ in range(n)]
