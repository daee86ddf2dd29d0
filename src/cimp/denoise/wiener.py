"""The whole image's empirical Wiener estimate in Fourier space: the U-Net's second input.

A lattice is a few sharp reflections in the image's spectrum and a smooth background a
few low frequencies; noise spreads evenly over all of them. In stabilised units the noise
has unit variance, and its spectrum is known: the detector's response smooths it along the
scan lines, the amplifier's part stays white. Every frequency whose power stands above the
noise's by more than chance would give (fewer than SPURIOUS bins per image from noise
alone) is kept with the Wiener gain 1 - noise / power; all others are dropped. A 3x3
convolution cannot see a lattice's repeats across the image; this estimate does, and the
U-Net reads it beside the image. It is computed once per image, so tiles agree.
"""

from __future__ import annotations

import numpy as np
import torch

from cimp.denoise.electrons import Calibration, stabilise

SPURIOUS = 0.05  # expected noise-only frequencies kept per image


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
    `spurious` noise-only frequencies per image on average."""
    z = stabilise(torch.from_numpy(np.asarray(e, dtype=np.float64)), cal.slope, cal.floor)
    z = z.numpy()
    h, w = z.shape
    spectrum = np.fft.rfft2(z - z.mean())
    noise = h * w * line_spectrum(cal, float(np.mean(e)), w)[: w // 2 + 1]
    power = np.abs(spectrum) ** 2
    threshold = np.log(h * w / spurious) * noise  # exponential noise power: P(> t) = e^-t/N
    gain = np.where(power > threshold, 1.0 - noise / np.maximum(power, 1e-30), 0.0)
    return (z.mean() + np.fft.irfft2(gain * spectrum, s=(h, w))).astype(np.float32)


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
