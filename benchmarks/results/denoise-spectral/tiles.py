"""Does a DRUN's output depend on the tiles an image is cut into? Three archive scenes of
384 px at 500 e/px (seed 777, x4), denoised in tiles of 128 px and in one pass: PSNR of
each, and their largest and rms difference in units of the target's noise (the input's
noise scaled to the target dose).

    python tiles.py DRUN [DRUN ...]
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
    cases = scenes(777, 3, 500.0, 384, 4.0, "archive")
    for drun in sys.argv[1:]:
        denoiser = Denoiser(drun, "cpu")
        for c in cases:
            a, b = (
                denoiser.transfer(c.image, c.source, c.changes, tile=t).image.astype(np.float64)
                for t in (128, 512)
            )
            sigma = 4.0 * np.std(c.image.astype(np.float64) - c.clean)
            print(
                f"{drun}: PSNR in 128 px tiles {scores(a, c, 4.0)[0]:.2f}, one pass "
                f"{scores(b, c, 4.0)[0]:.2f}; difference largest {np.abs(a - b).max() / sigma:.3f}"
                f" sigma, rms {np.sqrt(np.mean((a - b) ** 2)) / sigma:.4f} sigma"
            )


if __name__ == "__main__":
    main()
