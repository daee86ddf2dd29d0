"""The truth of each scene given to the hold as if it were the U-Net's output: its PSNR after
the whole hold, after each window alone (no gross hand-back), and with the finest window at
3.5 sigma (`sweep.py`'s rebuilt `project`).

    python truth_held.py [dose]   (archive sampling, seed 777, 16 scenes, x4)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from denoise import scenes, scores
from sweep import space

from cimp.denoise.consistency import LIMIT, Seen, readable, unclipped
from cimp.denoise.electrons import calibrate
from cimp.denoise.render import Noise, held_to

INF = np.inf
VARIANTS = {  # (limits per window, coarse to fine; gross hand-back)
    "whole hold": ((LIMIT, LIMIT, LIMIT), space["GROSS"]),
    "19.2 px alone": ((LIMIT, INF, INF), INF),
    "4.8 px alone": ((INF, LIMIT, INF), INF),
    "1.2 px alone": ((INF, INF, LIMIT), INF),
    "finest at 3.5": ((LIMIT, LIMIT, 3.5), space["GROSS"]),
}


def main() -> None:
    torch.set_num_threads(2)
    dose = float(sys.argv[1]) if len(sys.argv) > 1 else 500.0
    rows = []
    for c in scenes(777, 16, dose, 128, 4.0, "archive"):
        cal = calibrate(c.source, c.image.astype(np.float32))
        seen = Seen(torch.from_numpy(cal.electrons(c.image.astype(np.float32)))[None, None])
        truth = torch.from_numpy(cal.electrons(c.truth) / c.ratio).float().clamp_min(0.0)
        truth = truth[None, None]
        valid = torch.from_numpy(unclipped(c.image))[None, None]
        valid &= readable(truth, seen, cal, c.image.dtype)
        top = torch.tensor([cal.electrons(float(np.iinfo(c.image.dtype).max)) / c.ratio])
        noise, row = Noise.of([cal]), []
        for limits, gross in VARIANTS.values():
            space["LIMITS"], space["GROSS"] = limits, gross
            held = held_to(truth, seen, noise, valid, top)[0, 0].numpy()
            row.append(scores(cal.counts(c.ratio * held.astype(np.float64)), c, 4.0)[0])
        rows.append(row)
    print(f"archive {dose:g} e/px, the truth held: PSNR per scene")
    for name, column in zip(VARIANTS, np.array(rows).T, strict=True):
        print(f"{name:14s} {np.nanmean(column):6.2f} | " + " ".join(f"{v:.1f}" for v in column))


if __name__ == "__main__":
    main()
