"""The 500 and 100 e/px sets of the dose benchmark (seed 777, 16 a set, x4) with SURE's
traces (`sure.traces`) read from one perturbation of the image, as committed, and averaged
over K (seeds 0..K-1): PSNR and the guide's share per scene, per DRUN, in one process.

    python sure_draws.py K DRUN [DRUN ...]
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

import cimp.denoise.sure as sure
from cimp.denoise.apply import Denoiser

ONE = sure.traces


def averaged(draws: int):
    """`sure.traces` averaged over `draws` perturbations."""

    def traces(*args, **kwargs):
        each = []
        for seed in range(draws):
            sure.SEED = seed
            each.append(ONE(*args, **kwargs))
        sure.SEED = 0
        return tuple(np.mean(each, axis=0))

    return traces


def main() -> None:
    torch.set_num_threads(2)
    draws, druns = int(sys.argv[1]), sys.argv[2:]
    for sampling, dose in (("archive", 500.0), ("archive", 100.0), ("uniform", 500.0)):
        cases = scenes(777, 16, dose, 128, 4.0, sampling)
        for drun in druns:
            denoiser = Denoiser(drun, "cpu")
            for k in (1, draws):
                sure.traces = averaged(k)
                outs = [denoiser.transfer(c.image, c.source, c.changes) for c in cases]
                psnr = np.nanmean(
                    [scores(o.image, c, 4.0)[0] for o, c in zip(outs, cases, strict=True)]
                )
                shares = " ".join(f"{o.guide:.2f}" for o in outs)
                print(f"{sampling} {dose:g} {drun} draws {k}: {psnr:.2f} | shares {shares}")
    sure.traces = ONE


if __name__ == "__main__":
    main()
