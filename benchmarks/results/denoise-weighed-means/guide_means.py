"""A DRUN's scores with its local guides' window means kept (as trained before
`--weighed-means`), weighed toward the whole image's guide (`wiener.weighed_means`), or
set to it (flat): at inference alone, the U-Net as trained.

    python guide_means.py DRUN [kept,weighed,flat] [sets]   (seed 777, 16 scenes, x4;
                                                             sets: archive-5,archive-500,...)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

from cimp.denoise import wiener
from cimp.denoise.apply import Denoiser

WEIGHED = wiener.weighed_means
SETS = "archive-5,archive-20,archive-100,archive-500,uniform-5,uniform-20,uniform-100,uniform-500"


def flat(means, prior, noise):
    """Every window's mean the whole image guide's."""
    return prior.expand_as(means)


def main() -> None:
    torch.set_num_threads(2)
    denoiser = Denoiser(sys.argv[1], "cpu")
    modes = (sys.argv[2] if len(sys.argv) > 2 else "kept,weighed,flat").split(",")
    sets = [s.split("-") for s in (sys.argv[3] if len(sys.argv) > 3 else SETS).split(",")]
    print(f"{sys.argv[1]}: mean PSNR / SSIM / % of blocks beyond 3 sigma")
    for sampling, dose in sets:
        cases = scenes(777, 16, float(dose), 128, 4.0, sampling)
        row = []
        for mode in modes:
            denoiser.unet.config.weighed_means = mode != "kept"
            wiener.weighed_means = flat if mode == "flat" else WEIGHED
            each = [
                scores(
                    denoiser.transfer(c.image, c.source, c.changes).image.astype(np.float64), c, 4.0
                )
                for c in cases
            ]
            psnr, ssim, _, blocks = np.nanmean(each, axis=0)
            row.append(f"{mode} {psnr:6.2f} / {ssim:.3f} / {100 * blocks:.2f}")
        print(f"{sampling:8s} {dose:>4s}  " + "  ".join(row), flush=True)


if __name__ == "__main__":
    main()
