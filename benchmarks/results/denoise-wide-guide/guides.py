"""Per scene of a dose benchmark set: cimp, and the local Wiener guide alone in windows of
32, 48 or 64 px keeping 0.01-1 noise-only frequencies per window (in place of the U-Net's
output, through the same blend and hold). PSNR per scene.

.venv/bin/python benchmarks/results/denoise-wide-guide/guides.py a500 DRUN
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes, scores

from cimp.denoise import apply
from cimp.denoise.electrons import unstabilise
from cimp.denoise.wiener import local_guide

torch.set_num_threads(2)
key = sys.argv[1]
sampling, dose = {"a": "archive", "u": "uniform"}[key[0]], float(key[1:])
cases = scenes(777, 16, dose, 128, 4.0, sampling)
denoiser = apply.Denoiser(sys.argv[2], "cpu")
cimp_guided, variant = apply.Denoiser.guided, {}


def guided(self, free, g, e, cal, valid, estimate, known, after=None):
    if not variant:
        return cimp_guided(self, free, g, e, cal, valid, estimate, known, after)
    z = torch.from_numpy(local_guide(e, cal, **variant).astype(np.float64))
    out = unstabilise(z, cal.slope, cal.floor).clamp_min(0).float()[None, None]
    return torch.where(valid, out, free), 0.0


apply.Denoiser.guided = guided
runs = [{}] + [{"size": s, "spurious": p} for s, p in ((32, 0.01), (32, 0.1), (32, 1.0))]
runs += [{"size": s, "spurious": p} for s, p in ((48, 0.01), (64, 0.01), (64, 0.1), (64, 1.0))]
for run in runs:
    variant.clear()
    variant.update(run)
    each = [
        scores(denoiser.transfer(c.image, c.source, c.changes).image.astype(np.float64), c, 4.0)[0]
        for c in cases
    ]
    name = f"guide {run['size']} px, {run['spurious']}" if run else "cimp"
    print(f"{name:20s} {np.nanmean(each):6.2f} |", " ".join(f"{s:6.2f}" for s in each))
