"""The dose benchmark's sets (seed 777, 16 scenes of 128 px, x4) through `cimp` as it is
checked out (for production.patch: `git apply production.patch` first), with sure.EPS
and sure.DRAWS set per variant EPS:DRAWS: PSNR, SSIM, seconds per image and each scene's
share of the guide.

    python run_sets.py SAMPLING:DOSE[,...] EPS:DRAWS[,...] DRUN [DRUN ...]
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

import cimp.denoise.sure as S
from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    variants = [v.split(":") for v in sys.argv[2].split(",")]
    for sampling, dose in (s.split(":") for s in sys.argv[1].split(",")):
        cases = scenes(777, 16, float(dose), 128, 4.0, sampling)
        for drun in sys.argv[3:]:
            denoiser = Denoiser(drun, "cpu")
            for eps, draws in variants:
                S.EPS, S.DRAWS = float(eps), int(draws)
                start = time.perf_counter()
                outs = [denoiser.transfer(c.image, c.source, c.changes) for c in cases]
                seconds = (time.perf_counter() - start) / len(cases)
                scored = [scores(o.image, c, 4.0) for o, c in zip(outs, cases, strict=True)]
                psnr, ssim = (np.nanmean([s[i] for s in scored]) for i in (0, 1))
                shares = " ".join(f"{o.guide:.2f}" for o in outs)
                print(
                    f"{sampling} {dose} {drun} eps {eps} draws {draws}: {psnr:.2f} {ssim:.3f} "
                    f"({seconds:.2f} s) | {shares}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
