"""cimp on the dose benchmark's scenes with the hold's limit in its finest window at each
value asked (`cimp.denoise.consistency.project`, its other windows at LIMIT): PSNR / SSIM and
4x4 blocks beyond 3 sigma per set.

.venv/bin/python benchmarks/results/denoise-wide-guide/hold_limit.py DRUN 2.75 3.5
"""

import inspect
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes, scores

from cimp.denoise import consistency, render
from cimp.denoise.apply import Denoiser

torch.set_num_threads(2)
ONE = "        limit = LIMIT * sd\n"
FINE = "        limit = (LIMIT if i < len(WINDOWS) - 1 else FINE) * sd\n"
source = inspect.getsource(consistency.project)
assert source.count(ONE) == 1
space = dict(vars(consistency))
exec(textwrap.dedent(source.replace(ONE, FINE)), space)
render.project = space["project"]
denoiser = Denoiser(sys.argv[1], "cpu")
limits = [float(x) for x in sys.argv[2:]]
print(f"{sys.argv[1]}: finest-window limit {' | '.join(map(str, limits))}")
for sampling in ("archive", "uniform"):
    for dose in (5.0, 20.0, 100.0, 500.0):
        cases = scenes(777, 16, dose, 128, 4.0, sampling)
        row = f"| {sampling}, {dose:g} |"
        for fine in limits:
            space["FINE"] = fine
            outputs = [denoiser.transfer(c.image, c.source, c.changes).image for c in cases]
            pairs = zip(outputs, cases, strict=True)
            each = [scores(o.astype(np.float64), c, 4.0) for o, c in pairs]
            m = np.nanmean(each, axis=0)
            row += f" {m[0]:.2f} / {m[1]:.3f}, {100 * m[3]:.2f} % |"
        print(row, flush=True)
