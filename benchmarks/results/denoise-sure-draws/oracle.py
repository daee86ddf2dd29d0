"""The share of the local guide the truth would choose: each scene of a dose benchmark set
(seed 777, 16 scenes of 128 px, x4) transferred with the share fixed at 0, 0.1, ..., 1,
its PSNR at each, and the set's mean PSNR with each scene at its best (the ceiling of any
choice of the share).

    python oracle.py DRUN SAMPLING DOSE
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

import cimp.denoise.apply as apply

SHARES = np.linspace(0.0, 1.0, 11)


def main() -> None:
    torch.set_num_threads(2)
    drun, sampling, dose = sys.argv[1], sys.argv[2], float(sys.argv[3])
    fixed = {"share": 0.0}
    apply.guide_share = lambda *args, **kwargs: fixed["share"]
    denoiser = apply.Denoiser(drun, "cpu")
    best = []
    for i, case in enumerate(scenes(777, 16, dose, 128, 4.0, sampling)):
        row = []
        for share in SHARES:
            fixed["share"] = share
            out = denoiser.transfer(case.image, case.source, case.changes)
            row.append(scores(out.image.astype(float), case, 4.0)[0])
        if not np.isfinite(row).any():
            continue
        best.append(np.nanmax(row))
        psnrs = " ".join(f"{x:.2f}" for x in row)
        print(f"{i} oracle {SHARES[np.nanargmax(row)]:.1f} | {psnrs}", flush=True)
    print(f"{sampling} {dose:g} {drun} oracle-share set PSNR {np.mean(best):.2f}")


if __name__ == "__main__":
    main()
