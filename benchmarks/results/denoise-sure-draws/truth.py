"""What SURE's traces estimate against what the truth says, per scene of a dose benchmark
set (seed 777, 16 scenes of 128 px, x4), as committed (`sure.guide_share`, the blend held
at the U-Net's gains: d = P (g - u), B(u) the blended estimate):

- the truth's <x - y, d> / |d|^2 (x the clean electrons, y the image), which SURE reads
  as (tr(S J_u) - tr(S J_g)) / |d|^2 from perturbations (mean and spread over DRAWS seeds);
- the share that minimises |B(u) + w d - x|^2 (opt) and the one SURE reads, and SURE's
  significance bar.

    python truth.py DRAWS DRUN [SAMPLING:DOSE]
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes

import cimp.denoise.apply as apply
import cimp.denoise.sure as sure
from cimp.denoise.electrons import calibrate

ONE = sure.traces
SHARE = sure.guide_share
READ: dict = {}


def seeded(seed: int, *args, **kwargs):
    """`sure.traces` from the perturbation of this seed."""
    sure.SEED = seed
    try:
        return ONE(*args, **kwargs)
    finally:
        sure.SEED = 0


def main() -> None:
    torch.set_num_threads(2)
    draws, drun = int(sys.argv[1]), sys.argv[2]
    sampling, dose = (sys.argv[3] if len(sys.argv) > 3 else "archive:500").split(":")

    def traces(*args, **kwargs):
        READ["traces"] = np.array([seeded(seed, *args, **kwargs) for seed in range(draws)])
        return tuple(READ["traces"][0])  # the committed share reads the first draw

    def guide_share(u, g, e, cal, valid, estimate, known=None, after=None):
        base, survives = after
        d = np.where(valid, survives(np.where(valid, g - u, 0.0)), 0.0)
        power = float(np.square(d).sum())
        SHARE(u, g, e, cal, valid, estimate, known, after)
        x = READ["clean"]
        READ.update(
            power=power,
            residual=float(((base - e) * d).sum()) / power,
            truth=float(((x - e) * d).sum()) / power,
            opt=-float(((base - x) * d).sum()) / power,
            bar=sure.SIGNIFICANT * np.sqrt(sure._noise_power(d, u, cal)) / power,
        )
        return 0.0

    sure.traces, apply.guide_share = traces, guide_share
    denoiser = apply.Denoiser(drun, "cpu")
    for i, case in enumerate(scenes(777, 16, float(dose), 128, 4.0, sampling)):
        READ.pop("traces", None)
        READ["clean"] = calibrate(case.source).electrons(case.clean.astype(np.float64))
        denoiser.transfer(case.image, case.source, case.changes)
        if "traces" not in READ:
            print(i, "no SURE (clipped)")
            continue
        t = READ["traces"] / READ["power"]
        read = t[:, 0] - t[:, 1]
        share = read - READ["residual"]
        print(
            f"{i:2d} truth {READ['truth']:+.2f} traces {read.mean():+.2f} ± {read.std():.2f} | "
            f"opt share {READ['opt']:.2f} SURE {share.mean():.2f} ± {share.std():.2f} "
            f"bar {READ['bar']:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
