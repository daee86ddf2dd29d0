"""The whole-image guide alone as the output (`wiener.guide`, smoothing 1 and 3 bins a side):
PSNR per scene of a dose benchmark set against the target's truth, and the oracle linear
filter (the Wiener gain from the clean image's own spectrum) as its ceiling.

.venv/bin/python benchmarks/results/denoise-smoothed-guide/guide_alone.py a500
"""

import sys
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import UINT16_MAX, scenes

from cimp.denoise.electrons import calibrate, stabilise, unstabilise
from cimp.denoise.wiener import guide


def stabilised(counts, cal):
    e = torch.from_numpy(cal.electrons(counts.astype(np.float64)))
    return stabilise(e, cal.slope, cal.floor).numpy()


def psnr(z, cal, truth):
    """PSNR against `truth` of the stabilised estimate z taken to the target's counts."""
    span = float(truth.max() - truth.min())
    e = unstabilise(torch.from_numpy(z.astype(np.float64)), cal.slope, cal.floor)
    out = np.minimum(cal.counts(4.0 * e.clamp_min(0).numpy()), UINT16_MAX)
    return peak_signal_noise_ratio(truth, out, data_range=span) if span > 0 else np.nan


key = sys.argv[1]
sampling, dose = {"a": "archive", "u": "uniform"}[key[0]], float(key[1:])
rows = {"guide, smoothing 1": [], "guide, smoothing 3": [], "oracle linear filter": []}
for case in scenes(777, 16, dose, 128, 4.0, sampling):
    cal = calibrate(case.source)
    truth = np.minimum(case.truth, UINT16_MAX)
    e = cal.electrons(case.image.astype(np.float64))
    z, clean = stabilised(case.image, cal), stabilised(case.clean, cal)
    noisy, signal = (np.fft.fft2(x - x.mean()) for x in (z, clean))
    gain = np.abs(signal) ** 2 / (np.abs(signal) ** 2 + np.mean(np.abs(noisy - signal) ** 2))
    oracle = z.mean() + np.fft.ifft2(gain * noisy).real
    for name, estimate in zip(
        rows, (guide(e, cal, smoothing=1), guide(e, cal, smoothing=3), oracle), strict=True
    ):
        rows[name].append(psnr(estimate, cal, truth))
print(f"{sampling} {dose:g} e/px, PSNR (dB): mean | per scene")
for name, values in rows.items():
    print(f"{name:22s} {np.nanmean(values):6.2f} |", " ".join(f"{v:6.2f}" for v in values))
