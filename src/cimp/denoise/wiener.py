"""Empirical Wiener estimates in Fourier space, of the whole image and in windows: the
U-Net's second and third inputs.

A lattice is a few sharp reflections in the image's spectrum and a smooth background a
few low frequencies; noise spreads evenly over all of them. In stabilised units the noise
has unit variance, and its spectrum is known: the detector's response smooths it along the
scan lines, the amplifier's part stays white. Every frequency whose power stands above the
noise's by more than chance would give (fewer than SPURIOUS bins per image from noise
alone) is kept with the Wiener gain 1 - noise / power; all others are dropped. A 3x3
convolution cannot see a lattice's repeats across the image; this estimate does, and the
U-Net reads it beside the image. It is computed once per image, so tiles agree.

A lattice often fills only part of an image (a particle on its support, grains), and the
scan's drift and jitter bend it: the whole image's spectrum spreads a particle's
reflections over the vacuum at their average strength and smears a bent lattice's. Over a
few repeats a lattice is straight and in place, so a second, local estimate does the same
in windows of LOCAL px overlapping by half (sine windows, analysis and synthesis, whose
squares sum to one), reading a lattice in its neighbourhood as BM3D does. Windows at the
image's borders reach past it and read a mirror of it; the mirror counts pixels twice, so
their noise is not even over the frequencies (judged by an inside window's, a corner
window keeps far more noise-only frequencies, which draw stripes): each window
is weighed against its own noise spectrum (`window_noise`). The U-Net reads the whole
image's guide and the local one in LOCAL and in WIDE windows (`unet_inputs`). A window's
mean is kept as it is, whatever the noise (where nothing stands above the noise the means
are the noise's blotches, which the structure gain, `structure`, answers).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.special import chdtri

from cimp.denoise.electrons import Calibration, stabilised

if TYPE_CHECKING:  # scanlines reads the whole-image guide: no import at run time
    from cimp.denoise.scanlines import Lines

SPURIOUS = 0.05  # expected noise-only frequencies kept per image
LOCAL = 32  # px: the local estimate's windows (a hop of half that)
LOCAL_SPURIOUS = 0.01  # expected noise-only frequencies kept per window
WIDE = 64  # px: the wide local estimate's windows (more repeats of a coarse lattice)
INPUTS = 4  # the U-Net's: the image, the whole image's guide, the local and the wide one
CHUNK = 2**18  # values of windows `local_guide` reads at a time (2 MB in float64)


def line_spectrum(cal: Calibration, e_mean: float, width: int) -> np.ndarray:
    """The stabilised noise's power per frequency along a scan line (mean 1; lines are
    independent, so it is flat across them) at an image level of `e_mean` electrons."""
    white = cal.excess * max(e_mean, 0.0) + cal.dark**2  # before the response
    read = cal.floor - cal.kappa * cal.dark**2  # after it
    a = cal.response
    omega = 2.0 * np.pi * np.fft.fftfreq(width)
    smoothed = (1.0 - a) ** 2 / (1.0 - 2.0 * a * np.cos(omega) + a * a)  # mean: kappa
    power = white * smoothed + read
    return power / power.mean()


def guide(e: np.ndarray, cal: Calibration, spurious: float = SPURIOUS) -> np.ndarray:
    """(H, W) float32: the Wiener estimate of the stabilised image of electrons `e`, keeping
    `spurious` noise-only frequencies per image on average, by their own power."""
    z = stabilised(e, cal)
    h, w = z.shape
    spectrum = torch.fft.rfft2(torch.from_numpy(z - z.mean())).numpy()  # 2x numpy's
    line = h * w * line_spectrum(cal, float(np.mean(e)), w)
    noise = line[: w // 2 + 1]
    power = np.square(spectrum.real) + np.square(spectrum.imag)
    threshold = np.log(h * w / spurious) * noise  # exponential noise power: P(> t) = e^-t/N
    gain = np.where(power > threshold, 1.0 - noise / np.maximum(power, 1e-30), 0.0)
    kept = torch.fft.irfft2(torch.from_numpy(gain * spectrum), s=(h, w)).numpy()
    return (z.mean() + kept).astype(np.float32)


def local_guide(
    e: np.ndarray,
    cal: Calibration,
    *,
    size: int = LOCAL,
    spurious: float = LOCAL_SPURIOUS,
) -> np.ndarray:
    """(H, W) float32: the Wiener estimate of the stabilised image of electrons `e` in
    overlapping windows of `size` px, each keeping `spurious` noise-only frequencies on
    average, and its mean. The windows are read a few rows at a time (CHUNK): all at once,
    a large image's windows cost more in moving memory than in arithmetic."""
    z = torch.from_numpy(stabilised(e, cal))
    h, w = z.shape
    window = sine_window(size)
    line = line_spectrum(cal, float(np.mean(e)), size)
    line_noise = torch.from_numpy(line[: size // 2 + 1]) * window.square().sum()
    grid = window_grid(z, size)
    out = z.new_zeros(grid.shape[0] + 1, grid.shape[1] + 1, size // 2, size // 2)
    step = max(1, CHUNK // (grid.shape[1] * size * size))
    for row in range(0, grid.shape[0], step):
        rows = slice(row, row + step)
        patches = grid[rows]
        means = patches.mean(dim=(-2, -1), keepdim=True)
        spectrum = torch.fft.rfft2((patches - means) * window)
        noise, threshold = (
            line_noise * torch.from_numpy(x)
            for x in window_noise_grid(h, w, size, spurious, rows=rows)
        )
        power = spectrum.real.square() + spectrum.imag.square()
        gain = torch.where(power > threshold, 1.0 - noise / power.clamp_min(1e-30), 0.0)
        gain[..., 0, 0] = 1.0
        kept = means * window + torch.fft.irfft2(gain * spectrum, s=(size, size))
        _add_windows(out, row, kept * window)
    return _image(out, h, w).numpy().astype(np.float32)


def sine_window(size: int) -> torch.Tensor:
    """(size, size) the local guide's window, for analysis and synthesis alike: at a hop of
    half its size, the squares of overlapping windows sum to one."""
    line = _sine_line(size)
    return line[:, None] * line[None, :]


def _sine_line(size: int) -> torch.Tensor:
    return torch.sin(torch.pi * (torch.arange(size, dtype=torch.float64) + 0.5) / size)


def _pads(n: int, size: int) -> tuple[int, int]:
    """Pixels mirrored before and after an axis of n px, so that windows of `size` px at a
    hop of half that reach every pixel whole."""
    hop = size // 2
    return hop, hop + (-n) % hop


def windows(z: torch.Tensor, size: int) -> torch.Tensor:
    """(windows, size, size) the local guide's windows of z (H, W), row by row, a hop of
    half a window apart, the image mirrored past its borders so that whole windows reach
    every pixel (numpy's mirror, which reflects again past a small image's far side;
    unwindowed: multiply by `sine_window`)."""
    return window_grid(z, size).reshape(-1, size, size)


def window_grid(z: torch.Tensor, size: int) -> torch.Tensor:
    """(rows, columns, size, size) `windows` as a grid: a view of the mirrored image."""
    hop = size // 2
    padded = torch.from_numpy(np.pad(z.numpy(), [_pads(n, size) for n in z.shape], "reflect"))
    return padded.unfold(0, size, hop).unfold(1, size, hop)


def overlap_add(patches: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(h, w) the image that `windows` of it, each multiplied by the sine window, then
    edited, read: windowed again and added where they overlap (the windows' squares sum to
    one on the image)."""
    size = patches.shape[-1]
    hop = size // 2
    rows, cols = ((n + sum(_pads(n, size))) // hop for n in (h, w))
    out = patches.new_zeros(rows, cols, hop, hop)
    _add_windows(out, 0, (patches * sine_window(size)).reshape(rows - 1, cols - 1, size, size))
    return _image(out, h, w)


def _add_windows(out: torch.Tensor, row: int, windowed: torch.Tensor) -> None:
    """Add windows (rows, columns, size, size) whose first row is the grid's `row` into
    `out` (rows + 1, columns + 1, hop, hop), blocks of half a window: a window covers 2 x 2
    of them, and the windows whose blocks start at the same corner of theirs tile the
    image, four such tilings."""
    n, m, size = windowed.shape[0], windowed.shape[1], windowed.shape[-1]
    blocks = windowed.reshape(n, m, 2, size // 2, 2, size // 2)
    for a in (0, 1):
        for b in (0, 1):
            out[row + a : row + n + a, b : m + b] += blocks[:, :, a, :, b, :]


def _image(out: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(h, w) the image of `_add_windows`' blocks, its mirrored margins cut."""
    rows, cols, hop, _ = out.shape
    return out.permute(0, 2, 1, 3).reshape(rows * hop, cols * hop)[hop : hop + h, hop : hop + w]


def window_noise(h: int, w: int, size: int, spurious: float) -> tuple[np.ndarray, np.ndarray]:
    """(windows, size, size // 2 + 1) twice: the noise power of each of `local_guide`'s
    windows on an h x w image at each frequency of its `rfft2` over an inside window's, and
    the power, in the same units, that noise alone passes in `spurious` of size x size
    frequencies. A window that reads the mirror beyond a border sees some pixels twice:
    more noise at some frequencies, less at others, and a coefficient more real than
    complex (as a window's mean and Nyquist frequencies are everywhere), whose power has a
    longer tail than the exponential of complex noise (read here as a chi-square of the
    degrees of freedom that match its variance). White noise's; it scales the noise along
    the scan lines alike (an approximation)."""
    grid = window_noise_grid(h, w, size, spurious)
    return tuple(x.reshape(-1, size, size // 2 + 1) for x in grid)


def window_noise_grid(
    h: int, w: int, size: int, spurious: float, *, rows: slice = slice(None)
) -> tuple[np.ndarray, np.ndarray]:
    """`window_noise` of the windows in the grid's `rows` (`window_grid`), (rows, columns,
    size, size // 2 + 1) twice."""
    power, threshold, row_kinds, col_kinds = _noise_kinds(h, w, size, spurious)
    which = (row_kinds[rows, None], col_kinds[None, :])
    return power[which], threshold[which]


@lru_cache(maxsize=32)
def _noise_kinds(h: int, w: int, size: int, spurious: float):
    """`window_noise` for each kind of window, (row kinds, column kinds, size, size // 2 + 1)
    twice, and the kind of each row and column of windows (a few kinds: cached)."""
    (pr, qr, rows), (pc, qc, cols) = (_mirrored(n, size) for n in (h, w))
    pc, qc = pc[:, : size // 2 + 1], qc[:, : size // 2 + 1]
    power = pr[:, None, :, None] * pc[None, :, None, :]
    pseudo = np.abs(qr[:, None, :, None] * qc[None, :, None, :])
    dof = 2.0 / (1.0 + np.square(pseudo / np.maximum(power, 1e-12)))
    return power, power * chdtri(dof, spurious / size**2) / dof, rows, cols


def _mirrored(n: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along an axis of n px mirrored as `windows` mirrors it (`_pads`): the
    power E|X|^2 and pseudo-power E[X^2] of white noise's DFT X in a sine window, over an
    inside window's power (a pixel read twice: its terms add), (kinds, size) each, and
    which kind each window is (windows,): inside ones are all alike."""
    source = np.pad(np.arange(n), _pads(n, size), mode="reflect")
    line = _sine_line(size).numpy()
    phases = line[:, None] * np.exp(-2j * np.pi * np.outer(np.arange(size), np.arange(size)) / size)
    power, pseudo = [], []
    for start in range(0, len(source) - size + 1, size // 2):
        pixels, which = np.unique(source[start : start + size], return_inverse=True)
        summed = np.zeros((len(pixels), size), dtype=complex)
        np.add.at(summed, which, phases)
        power.append(np.square(np.abs(summed)).sum(axis=0))
        pseudo.append(np.square(summed).sum(axis=0))
    inside = np.square(line).sum()
    power, pseudo = np.array(power) / inside, np.array(pseudo) / inside
    stacked = np.concatenate([power, pseudo.real, pseudo.imag], axis=1).round(9)
    _, first, kind = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    return power[first], pseudo[first], kind.ravel()


def unet_inputs(e: np.ndarray, cal: Calibration, lines: Lines | None = None) -> np.ndarray:
    """(INPUTS, H, W) float32: the electrons, the whole image's guide, the local one and the
    wide local one. With the scan's `lines` (`scanlines.read`) the guides are read on the
    image put straight and sampled back where its lines were scanned."""
    straight = e if lines is None else lines.straight(np.asarray(e, dtype=np.float64))
    guides = [guide(straight, cal)]
    guides += [local_guide(straight, cal, size=size) for size in (LOCAL, WIDE)]
    guides = np.stack(guides)
    if lines is not None:
        guides = lines.scanned(guides.astype(np.float64)).astype(np.float32)
    return np.concatenate([np.asarray(e, dtype=np.float32)[None], guides])


def parities_from(z: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """`z` with the means of its four 2x2 pixel parities moved to `estimate`'s (the
    whole image's Nyquist frequencies, the three its parity means hold beside the mean).

    The U-Net works on the 2x2 sub-images of the image, and gives each a faint bias of its
    own: at 5 e/px, a column alternation that stood out as the output's only "reflection".
    The guide's Wiener estimate keeps those frequencies only where the input shows them.
    """
    out = np.array(z, dtype=np.float32, copy=True)
    for dy in (0, 1):
        for dx in (0, 1):
            part = (slice(dy, None, 2), slice(dx, None, 2))
            out[part] += (estimate[part].mean() - estimate.mean()) - (z[part].mean() - z.mean())
    return out
