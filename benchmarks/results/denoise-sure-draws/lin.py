"""Does the blend act as its linear part? Per scene of the archive 500 e/px set: the mean
squared error against the clean electrons at fixed shares 0, 0.2, ..., 1 of the output as
SURE modelled it when committed (B(u) + w P (g - u), the blend held at the U-Net's gains),
as the transfer makes it (the blend run again on u + w (g - u); no hold), and unblended.

    python lin.py DRUN SCENES   (e.g. 9,10,11)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes

import cimp.denoise.apply as apply
from cimp.denoise.electrons import calibrate

READ: dict = {}


def main() -> None:
    torch.set_num_threads(2)
    fixed = {"share": 0.0}

    def guide_share(u, g, e, cal, valid, estimate, known=None, after=None):
        base, survives = after
        d = np.where(valid, survives(np.where(valid, g - u, 0.0)), 0.0)
        READ.update(base=base, d=d, u=u, g=g)
        return fixed["share"]

    apply.guide_share = guide_share
    denoiser = apply.Denoiser(sys.argv[1], "cpu")
    cases = scenes(777, 16, 500.0, 128, 4.0, "archive")
    for i in (int(x) for x in sys.argv[2].split(",")):
        case, cal = cases[i], calibrate(cases[i].source)
        x = cal.electrons(case.clean.astype(np.float64))
        rows = {"linear": [], "actual": [], "unblended": []}
        for w in np.linspace(0.0, 1.0, 6):
            fixed["share"] = w
            out = denoiser.transfer(case.image, case.source, case.changes, limit=1e6).image
            u, g = READ["u"], READ["g"]
            rows["linear"].append(np.mean((READ["base"] + w * READ["d"] - x) ** 2))
            rows["actual"].append(np.mean(((out - cal.black) / cal.gain / 4.0 - x) ** 2))
            rows["unblended"].append(np.mean((u + w * (g - u) - x) ** 2))
        for name, row in rows.items():
            print(i, f"{name:9s}", " ".join(f"{v:.3f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
