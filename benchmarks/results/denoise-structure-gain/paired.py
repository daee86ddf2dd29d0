"""Two DRUNs on the dose benchmark's scenes (seed 777, 16 a set, x4), in one process: PSNR /
SSIM, blocks beyond 3 sigma and the mean share of structure kept, per set; and the scenes
where the second scores above the first.

    python paired.py DRUN_A DRUN_B     (e.g. a DRUN without and with its structure gain)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    runs = [Denoiser(d, "cpu") for d in sys.argv[1:3]]
    print(f"A = {sys.argv[1]}, B = {sys.argv[2]}")
    print(
        "| set | A PSNR / SSIM | A beyond 3 sigma | B PSNR / SSIM | B beyond 3 sigma "
        "| B kept (mean, min) | B above A (PSNR) |"
    )
    print("|---|---|---|---|---|---|---|")
    for sampling in ("archive", "uniform"):
        for dose in (5.0, 20.0, 100.0, 500.0):
            cases = scenes(777, 16, dose, 128, 4.0, sampling)
            each, kept = [], []
            for den in runs:
                outs = [den.transfer(c.image, c.source, c.changes) for c in cases]
                kept.append([o.kept for o in outs])
                each.append(
                    np.array(
                        [
                            scores(o.image.astype(np.float64), c, 4.0)
                            for o, c in zip(outs, cases, strict=True)
                        ]
                    )
                )
            a, b = (np.nanmean(x, axis=0) for x in each)
            above = int(np.sum(each[1][:, 0] > each[0][:, 0] + 1e-9))
            print(
                f"| {sampling} {dose:g} | {a[0]:.2f} / {a[1]:.3f} | {100 * a[3]:.2f} % "
                f"| {b[0]:.2f} / {b[1]:.3f} | {100 * b[3]:.2f} % "
                f"| {np.mean(kept[1]):.2f}, {np.min(kept[1]):.2f} | {above} of {len(cases)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
