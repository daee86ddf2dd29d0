"""Per scene, a DRUN's PSNR at three stages: the U-Net alone (`raw`), the whole transfer
(`full`: SURE, blend and hold) and the transfer without the hold (`noproj`).

    python stages.py DRUN [archive|uniform] [dose]   (seed 777, 16 scenes, x4)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

import cimp.denoise.apply as apply


def stage(denoiser, cases, name: str) -> None:
    each = [
        scores(
            denoiser.transfer(c.image, c.source, c.changes, hold=name != "raw").image.astype(
                np.float64
            ),
            c,
            4.0,
        )
        for c in cases
    ]
    m = np.nanmean(each, axis=0)
    line = " ".join(f"{x[0]:.2f}" for x in each)
    print(f"{name:8s} {m[0]:.2f}/{m[1]:.3f}/{100 * m[3]:.2f}% | {line}", flush=True)


def unheld(free, seen, noise, valid, top):
    return free


def main() -> None:
    torch.set_num_threads(2)
    denoiser = apply.Denoiser(sys.argv[1], "cpu")
    sampling = sys.argv[2] if len(sys.argv) > 2 else "archive"
    dose = float(sys.argv[3]) if len(sys.argv) > 3 else 500.0
    cases = scenes(777, 16, dose, 128, 4.0, sampling)
    print(f"{sys.argv[1]} {sampling} {dose:g} e/px: PSNR/SSIM/blocks beyond 3 sigma | per scene")
    stage(denoiser, cases, "raw")
    stage(denoiser, cases, "full")
    apply.held_to = unheld
    stage(denoiser, cases, "noproj")


if __name__ == "__main__":
    main()
