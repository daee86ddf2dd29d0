"""A DRUN on the dim archive cases of its own training twin (below 0.05 detected electrons a
pixel): its output beside a flat image at the output's mean, on the very noisy image it was
trained on ("seen") and on the same scene under fresh noise ("fresh"). Where the flat image
wins on the seen noise too, the U-Net did not fit those cases: not memorised noise.

    python dim_cases.py DRUN   (twin seed 0, archive cases 0-2499 as `train-denoiser` draws them)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scores

import cimp.denoise.twin as twin
from cimp.denoise.apply import Denoiser
from cimp.denoise.electrons import calibrate
from cimp.denoise.train import LOW_DOSES
from cimp.instrument.profile import default as default_profile

DIM = 0.05  # detected electrons a pixel, noise-free, at the source


def fresh(case_index: int) -> twin.TwinCase:
    """Training case `case_index` with the detector's noise drawn again (the scene, settings
    and truth as trained)."""
    acquire = twin.acquire
    twin.acquire = lambda scene, settings, rng, **kw: acquire(
        scene, settings, np.random.default_rng([99, case_index]), **kw
    )
    try:
        return twin.twin_case(0, case_index, 128, "archive", low_dose_share=LOW_DOSES)
    finally:
        twin.acquire = acquire


def main() -> None:
    torch.set_num_threads(2)
    denoiser = Denoiser(sys.argv[1], "cpu")
    cases = twin.twin_cases(0, 2500, 128, "archive", low_dose_share=LOW_DOSES)
    detector = default_profile().detector
    rows = []
    for i, case in enumerate(cases):
        cal = calibrate(case.source, case.image, detector)
        if cal.electrons(case.clean).mean() >= DIM:
            continue
        row = []
        for c in (case, fresh(i)):
            out = denoiser.transfer(c.image, c.source, c.changes).image.astype(np.float64)
            flat = np.full_like(out, out.mean())
            row += [scores(out, c, c.ratio)[0], scores(flat, c, c.ratio)[0]]
        rows.append(row)
    r = np.array(rows)
    print(f"{sys.argv[1]}: {len(r)} of {len(cases)} archive training cases below {DIM} e/px")
    print("PSNR, mean over them: seen noise cimp / flat at its mean, fresh noise cimp / flat")
    print(" / ".join(f"{m:.2f}" for m in np.nanmean(r, axis=0)))
    print(f"flat above cimp: {np.sum(r[:, 1] > r[:, 0])} seen, {np.sum(r[:, 3] > r[:, 2])} fresh")


if __name__ == "__main__":
    main()
