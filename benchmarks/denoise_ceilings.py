"""Ceilings of the dose benchmark: estimates that read the noise-free image (see denoise.py).

- `perfect`: the source's clean image itself, taken to the target dose: all the noise
  removed; it differs from the truth only by what the target's wider probe changes.
- `oracle_wiener`: the best filter that scales each frequency of the whole image, for this
  image: it knows, at every frequency, the clean image's power and the truth's (the target
  brought back to the source's level, wider probe and all), and gains truth x conj(clean)
  / (power + noise): the ceiling of `fourier_wiener`.
- `oracle_local_wiener`: the same in the local guide's windows of 32 px, each knowing its
  own: the ceiling of `local_wiener` and of any such filter in windows.

All work in detected electrons against the detector's noise spectrum (variance
slope x level + floor, spread over the frequencies as `cimp.denoise.wiener.line_spectrum`
says; in windows that read the mirror beyond a border, as `window_noise` says) and return
counts at the source dose.
"""

from __future__ import annotations

import numpy as np
import torch

from cimp.denoise.electrons import calibrate
from cimp.denoise.wiener import (
    LOCAL,
    LOCAL_SPURIOUS,
    line_spectrum,
    overlap_add,
    sine_window,
    window_noise,
    windows,
)


def perfect(case) -> np.ndarray:
    return case.clean.astype(np.float64)


def oracle_wiener(case) -> np.ndarray:
    cal, e, clean, truth = _electrons(case)
    h, w = e.shape
    variance = cal.slope * max(float(clean.mean()), 0.0) + cal.floor
    noise = h * w * variance * line_spectrum(cal, float(clean.mean()), w)[: w // 2 + 1]
    c, t = (np.fft.rfft2(x - x.mean()) for x in (clean, truth))
    gain = t * np.conj(c) / (np.abs(c) ** 2 + noise)
    return cal.counts(e.mean() + np.fft.irfft2(gain * np.fft.rfft2(e - e.mean()), s=(h, w)))


def oracle_local_wiener(case, size: int = LOCAL) -> np.ndarray:
    cal, e, clean, truth = _electrons(case)
    h, w = e.shape
    noisy, clean, truth = (windows(torch.from_numpy(x), size) for x in (e, clean, truth))
    window = sine_window(size)
    means, levels, targets = (x.mean(dim=(1, 2), keepdim=True) for x in (noisy, clean, truth))
    spectrum = torch.fft.rfft2((noisy - means) * window)
    c, t = (torch.fft.rfft2((x - m) * window) for x, m in ((clean, levels), (truth, targets)))
    shape = torch.from_numpy(line_spectrum(cal, float(clean.mean()), size)[: size // 2 + 1])
    ratio = torch.from_numpy(window_noise(h, w, size, LOCAL_SPURIOUS)[0])
    variance = cal.slope * levels.clamp_min(0.0) + cal.floor
    noise = variance * shape * ratio * window.square().sum()
    gain = t * c.conj() / (c.abs().square() + noise)
    kept = means * window + torch.fft.irfft2(gain * spectrum, s=(size, size))
    return cal.counts(overlap_add(kept, h, w).numpy())


def _electrons(case):
    """Calibration; the noisy image, the clean one and the truth at the source's level, in
    electrons."""
    cal = calibrate(case.source)
    truth = cal.electrons(case.truth.astype(np.float64)) / case.ratio
    return cal, cal.electrons(case.image.astype(np.float64)), cal.electrons(perfect(case)), truth


CEILINGS = {  # name -> function of a case: counts at the source dose
    "perfect": perfect,
    "oracle_wiener": oracle_wiener,
    "oracle_local_wiener": oracle_local_wiener,
}
