"""Where the hold acts: the share of pixels it moves by over half their noise, within 3 px
of the image's border and inside, on the dose benchmark's archive 100 and 500 e/px scenes.

.venv/bin/python benchmarks/results/denoise-local/border_holds.py DRUN
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes

from cimp.denoise.apply import Denoiser

BORDER = 3  # px

torch.set_num_threads(2)
denoiser = Denoiser(sys.argv[1], "cpu")
edge, inner = [], []
for dose in (100.0, 500.0):
    for case in scenes(777, 16, dose, 128, 4.0, "archive"):
        held = denoiser.transfer(case.image, case.source, case.changes)
        free = denoiser.transfer(case.image, case.source, case.changes, hold=False)
        cal = held.calibration
        level = np.maximum((free.image - cal.black) / cal.gain / held.ratio, 0.0)
        moved = np.abs(held.image - free.image) / cal.gain / held.ratio
        big = moved > 0.5 * np.sqrt(cal.slope * level + cal.floor)
        near = np.zeros_like(big)
        near[:BORDER] = near[-BORDER:] = near[:, :BORDER] = near[:, -BORDER:] = True
        edge.append(big[near].mean())
        inner.append(big[~near].mean())
print(
    f"held by over half their noise: within {BORDER} px of the border "
    f"{100 * np.mean(edge):.2f} %, inside {100 * np.mean(inner):.2f} %"
)
