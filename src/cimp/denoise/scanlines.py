"""The scan's per-line displacements, read from the image, so that the guides see the
specimen straight.

A STEM image is scanned line by line, and each line lands a little off where it should:
mains pickup (50 Hz, a few lines a period), the scan coils' jitter and drift move a line as
a whole. At atomic resolution that is tenths of a pixel to pixels: a lattice zig-zags from
line to line, its reflections smear over the spectrum, and the Wiener guides (`wiener`),
which keep only what stands above the noise, lose them.

`read` finds each line's displacement (dx along it, dy across) by Gauss-Newton against the
whole-image guide of the image put straight, ROUNDS times, each line's shift held to a
Gaussian prior of PRIOR px; the round that fits best is kept (on images without a lattice
the reference follows the lines it is fitted to and the fit can run away).
`wiener.unet_inputs` then computes the guides on the straight image and
samples them back at the lines' own positions: the output keeps the scan as the file
records it, the picture of the specimen is not changed (a target at more dose is scanned
alike; only what the guides read is sharper). Displacements that explain the image no
better than noise would (its misfit down by less than GATE per line; a first step that
promises less than SEARCH, or CHECK steps short of ON_TRACK, stop the search) are not
used, and the image is read as it is. So are those of an image so bright that its guide
keeps the zig-zag itself (a test lattice at 170 electrons a pixel): the reference is then
the displaced image, nothing is read against it, and the guide needs no straightening.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cimp.denoise.electrons import Calibration, stabilised
from cimp.denoise.wiener import guide

ROUNDS = 8  # Gauss-Newton rounds, each against a guide of the image as put straight so far
PRIOR = 1.0  # px: the prior spread of a line's displacement
STRIP = 128  # px: the columns around the centre a line's displacement is read on
MARGIN = 4  # px at a line's ends left out of the fit (its shift reads the mirror there)
# The misfit's drop per line (stabilised units, over STRIP px) below which displacements may
# be the noise's: two parameters a line take 2 on average from white noise, more from the
# lines' correlated noise; displaced lines of a lattice drop it by far more.
GATE = 8.0
# What the first step's linear model must promise for the search to go on (the step itself
# may overshoot on long lines, the next one recovers), and after CHECK steps the drop a fit
# must have reached to go on: displaced lines are well past it by then, straight ones not.
SEARCH = 2.0
CHECK = 3
ON_TRACK = 5.0


@dataclass(frozen=True)
class Lines:
    """Where each line of an image was scanned: line i's pixel j sat at (j + dx[i], i + dy[i])
    on a straight grid (px)."""

    dx: np.ndarray
    dy: np.ndarray

    @property
    def rms(self) -> float:
        """The lines' rms displacement (px)."""
        return float(np.sqrt(np.mean(self.dx**2 + self.dy**2)))

    def rows(self, part: slice) -> Lines:
        """The displacements of a run of the lines."""
        return Lines(self.dx[part], self.dy[part])

    def straight(self, image: np.ndarray) -> np.ndarray:
        """The image (H, W) resampled onto the straight grid."""
        if not (self.dx.any() or self.dy.any()):
            return image
        shifted = _shift_lines(image, -self.dx)  # line i's pixel j now at x = j
        return _rows_at(shifted, np.arange(len(self.dy)) + self.dy, np.arange(len(self.dy)))

    def scanned(self, image: np.ndarray) -> np.ndarray:
        """An image on the straight grid (..., H, W) sampled where the lines were scanned."""
        if not (self.dx.any() or self.dy.any()):
            return image
        n = len(self.dy)
        return _shift_lines(_rows_at(image, np.arange(n), np.arange(n) + self.dy), self.dx)


def read(e: np.ndarray, cal: Calibration, valid: np.ndarray | None = None) -> Lines | None:
    """The lines' displacements of the image of electrons `e` (H, W), fitted over its
    `valid` pixels (default: all) in its centre STRIP columns (a line moves as a whole: a
    512 px image read whole took 850 ms, 1.6x its transfer); None where they explain no
    more than noise would."""
    h, w = e.shape
    strip = slice(max((w - STRIP) // 2, 0), max((w - STRIP) // 2, 0) + min(w, STRIP))
    e = e[:, strip]
    z = stabilised(e, cal)
    weight = np.zeros(e.shape)
    weight[:, MARGIN : e.shape[1] - MARGIN] = 1.0
    if valid is not None:
        weight *= valid[:, strip]
    lines, start, best = Lines(np.zeros(h), np.zeros(h)), None, None
    for round_ in range(ROUNDS + 1):
        reference = guide(lines.straight(e), cal).astype(np.float64)
        level, across = lines.scanned(np.stack([reference, np.gradient(reference, axis=0)]))
        along = np.gradient(level, axis=1)  # a line's shift and resampling commute with d/dx
        misfit = float((np.square(z - level) * weight).sum())
        start = misfit if start is None else start
        if round_ and (best is None or misfit < best[0]):
            best = (misfit, lines)
        if round_ == CHECK and start - best[0] < ON_TRACK * h:
            return None  # not on track for the gate: the rest of the search is not worth it
        if round_ == ROUNDS:
            break
        lines, promised = _step(
            lines, (z - level) * weight, along * weight, across * weight, gx=along, gy=across
        )
        if not round_ and promised < SEARCH * h:
            return None  # the first step's linear model finds next to nothing to read
    return best[1] if start - best[0] > GATE * h else None


def _step(lines: Lines, residual, wx, wy, *, gx, gy) -> tuple[Lines, float]:
    """One Gauss-Newton step of every line's (dx, dy) under the prior, their mean kept at 0
    (a shift of the whole image is not a displacement of its lines), and the misfit's drop
    its linear model promises."""
    prior = 1.0 / PRIOR**2
    hxx, hyy, hxy = (wx * gx).sum(1) + prior, (wy * gy).sum(1) + prior, (wx * gy).sum(1)
    bx = (gx * residual).sum(1) - prior * lines.dx
    by = (gy * residual).sum(1) - prior * lines.dy
    det = hxx * hyy - hxy**2
    step_x, step_y = (hyy * bx - hxy * by) / det, (hxx * by - hxy * bx) / det
    dx, dy = lines.dx + step_x, lines.dy + step_y
    return Lines(dx - dx.mean(), dy - dy.mean()), float((bx * step_x + by * step_y).sum())


def _shift_lines(image: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """(..., H, W): line i read at x = j + dx[i], by a Fourier shift of the line and its
    mirror image (a period without a jump: no ringing from its ends)."""
    w = image.shape[-1]
    both = torch.from_numpy(np.concatenate([image, image[..., ::-1]], axis=-1))
    phase = torch.from_numpy(_phases(dx, w))
    return torch.fft.irfft(torch.fft.rfft(both) * phase, n=2 * w)[..., :w].numpy()


def _phases(dx: np.ndarray, w: int) -> np.ndarray:
    """(H, w + 1) exp(2 pi i k dx / 2w) for k = 0..w: a running product of each line's step
    (within 1e-14 of the exponentials, and faster)."""
    steps = np.empty((len(dx), w + 1), dtype=complex)
    steps[:, 0] = 1.0
    steps[:, 1:] = np.exp(1j * np.pi * dx / w)[:, None]
    return np.cumprod(steps, axis=1)


def _rows_at(image: np.ndarray, known: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """(..., H, W) rows sampled at positions `known` (H,), read at positions `wanted` (H,)
    by linear interpolation between the two nearest (the nearest one beyond the ends)."""
    order = np.argsort(known, kind="stable")
    at = known[order]
    k = np.clip(np.searchsorted(at, wanted), 1, len(at) - 1)
    a = np.clip((wanted - at[k - 1]) / np.maximum(at[k] - at[k - 1], 1e-9), 0.0, 1.0)[:, None]
    return (1.0 - a) * image[..., order[k - 1], :] + a * image[..., order[k], :]
