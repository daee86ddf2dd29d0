"""cimp alone on the dose benchmark's scenes: PSNR / SSIM and blocks beyond 3 sigma per set.

.venv/bin/python benchmarks/results/denoise-local-seed1/score.py DRUN
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes, scores

from cimp.denoise.apply import Denoiser

torch.set_num_threads(2)
denoiser = Denoiser(sys.argv[1], "cpu")
for sampling in ("archive", "uniform"):
    for dose in (5.0, 20.0, 100.0, 500.0):
        cases = scenes(777, 16, dose, 128, 4.0, sampling)
        outputs = [denoiser.transfer(c.image, c.source, c.changes).image for c in cases]
        each = [scores(o.astype(np.float64), c, 4.0) for o, c in zip(outputs, cases, strict=True)]
        m = np.nanmean(each, axis=0)
        print(f"| {sampling}, {dose:g} | {m[0]:.2f} / {m[1]:.3f} | {100 * m[3]:.2f} % |")
