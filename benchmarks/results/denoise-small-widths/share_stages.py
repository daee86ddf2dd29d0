"""Where the guide's share pays: PSNR against the source's clean image (electrons) after
each stage of cimp's inference (the share, the blend, the hold), the share as SURE reads
it and forced to 1, on the archive 500 e/px scenes 7-15 of the dose benchmark.

.venv/bin/python benchmarks/results/denoise-small-widths/share_stages.py DRUN
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes

import cimp.denoise.apply as apply
from cimp.denoise.electrons import calibrate

torch.set_num_threads(2)
stages, forced = {}, [None]
share, blend, hold = apply.guide_share, apply.blended, apply.held_to


def recorded(name, step):
    def run(free, *args):
        out = step(free, *args)
        stages.setdefault("share", free[0, 0].numpy().copy())
        stages[name] = out[0, 0].numpy().copy()
        return out

    return run


apply.guide_share = lambda *a, **k: share(*a, **k) if forced[0] is None else forced[0]
apply.blended, apply.held_to = recorded("blend", blend), recorded("hold", hold)
denoiser = apply.Denoiser(sys.argv[1], "cpu")
print("| scene | SURE's share: share / blend / hold (dB) | share 1: share / blend / hold (dB) |")
print("|---|---|---|")
for i, case in enumerate(scenes(777, 16, 500.0, 128, 4.0, "archive")):
    if i < 7:
        continue
    clean = calibrate(case.source).electrons(case.clean.astype(np.float64))
    span = clean.max() - clean.min()
    cells = []
    for forced[0] in (None, 1.0):
        stages.clear()
        out = denoiser.transfer(case.image, case.source, case.changes)
        db = [10 * np.log10(span**2 / np.mean((stages[k] - clean) ** 2)) for k in stages]
        cells.append(f"{out.guide:.2f}: " + " / ".join(f"{v:.2f}" for v in db))
    print(f"| {i} | {cells[0]} | {cells[1]} |")
