"""cimp's lead over the local Wiener peer at archive 500 e/px to four decimals (the
benchmark's tables round to two; the aim is a lead of 1 dB).

.venv/bin/python benchmarks/results/denoise-lr-half/lead.py DRUN
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import PEERS, scenes, scores, to_target

from cimp.denoise.apply import Denoiser

torch.set_num_threads(2)
cases = scenes(777, 16, 500.0, 128, 4.0, "archive")
denoiser = Denoiser(sys.argv[1], "cpu")
cimp = [
    scores(denoiser.transfer(c.image, c.source, c.changes).image.astype(np.float64), c, 4.0)[0]
    for c in cases
]
peer, _ = PEERS["local_wiener"]
wiener = [scores(to_target(peer(c, 0.002), c, 4.0), c, 4.0)[0] for c in cases]  # its tuned 0.002
a, b = np.nanmean(cimp), np.nanmean(wiener)
print(f"archive 500 e/px: cimp {a:.4f} dB, local Wiener {b:.4f} dB, lead {a - b:+.4f} dB")
