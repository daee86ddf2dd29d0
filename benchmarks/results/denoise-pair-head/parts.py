"""A pair-head DRUN's two estimates each alone (its mix's weight forced to 0 or 1) beside
the mix, through the committed inference (SURE, blend, hold), on chosen sets.

.venv/bin/python benchmarks/results/denoise-pair-head/parts.py DRUN [archive:500 ...]
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
assert denoiser.unet.config.head == "pair", "a --head pair DRUN"
sets = [(s, float(d)) for s, d in (a.split(":") for a in sys.argv[2:])] or [
    (s, d) for s in ("archive", "uniform") for d in (5.0, 20.0, 100.0, 500.0)
]
# the weight's logit: the side net's second output (8c36523's side variant), or
# the last layer's third (a43dd75's)
side = getattr(denoiser.unet, "side", None)
bias, index = (side[-1].bias, 1) if side is not None else (denoiser.unet.final.bias, 2)
learned = float(bias[index].detach())
print("| set | mix (learned weight) | residual estimate alone | direct estimate alone |")
print("|---|---|---|---|")
for sampling, dose in sets:
    cases = scenes(777, 16, dose, 128, 4.0, sampling)
    row = []
    for logit in (learned, learned + 60.0, learned - 60.0):  # the weight: as trained, 1, 0
        with torch.no_grad():
            bias[index] = logit
        outs = [denoiser.transfer(c.image, c.source, c.changes).image for c in cases]
        each = [scores(o.astype(np.float64), c, 4.0) for o, c in zip(outs, cases, strict=True)]
        m = np.nanmean(each, axis=0)
        row.append(f"{m[0]:.2f} / {m[1]:.3f}")
    print(f"| {sampling}, {dose:g} | " + " | ".join(row) + " |", flush=True)
