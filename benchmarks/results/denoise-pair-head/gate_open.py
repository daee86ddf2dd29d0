"""How far a trained gate head's gate is open, or how much a pair head takes of its
residual estimate, per set of the dose benchmark.

.venv/bin/python benchmarks/results/denoise-pair-head/gate_open.py DRUN   (--head gate or pair)

The gate head's output is sigmoid(gate) x the image's departure from its mean plus a
correction, the pair head's its direct estimate plus sigmoid(weight) x (its residual
estimate - the direct one) (`cimp.denoise.unet`); this prints that sigmoid's mean and
99th percentile over every pixel the U-Net computed on the set's 16 scenes (both grid
placements and SURE's pass included), beside cimp's PSNR / SSIM.
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes, scores

from cimp.denoise.apply import Denoiser

torch.set_num_threads(2)
gates: list[np.ndarray] = []
denoiser = Denoiser(sys.argv[1], "cpu")
# the channel of the last layer that is the gate's or the weight's logit
channel = {"gate": 1, "pair": 2}[denoiser.unet.config.head]
denoiser.unet.final.register_forward_hook(
    lambda layer, inputs, out: gates.append(torch.sigmoid(out[:, channel].float()).numpy().ravel())
)
print("| set | PSNR / SSIM | mean | 99th percentile |\n|---|---|---|---|")
for sampling in ("archive", "uniform"):
    for dose in (5.0, 20.0, 100.0, 500.0):
        gates.clear()
        cases = scenes(777, 16, dose, 128, 4.0, sampling)
        outputs = [denoiser.transfer(c.image, c.source, c.changes).image for c in cases]
        each = [scores(o.astype(np.float64), c, 4.0) for o, c in zip(outputs, cases, strict=True)]
        m, g = np.nanmean(each, axis=0), np.concatenate(gates)
        print(
            f"| {sampling}, {dose:g} | {m[0]:.2f} / {m[1]:.3f} | {g.mean():.3f} "
            f"| {np.percentile(g, 99):.3f} |",
            flush=True,
        )
