"""The whole transfer (structure gain, SURE's guide share, blend, hold) per scene with the
structure gain forced to a constant, beside the gain fitted by `train-denoiser`: how far a
better choice of the gain could go (the per-scene best constant knows the truth).

    python keeps.py DRUN [SAMPLING:DOSE,...]   (default archive:500,uniform:500,archive:100)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

from cimp.denoise.apply import Denoiser
from cimp.denoise.structure import StructureGain

KEEPS = [0.0, 0.25, 0.5, 0.75, 1.0]


def psnr_ssim(den: Denoiser, cases) -> tuple[np.ndarray, list[float]]:
    """(scenes, 2) PSNR and SSIM of the transfers, and the share of structure each kept."""
    outs = [den.transfer(c.image, c.source, c.changes) for c in cases]
    pairs = zip(outs, cases, strict=True)
    each = [scores(o.image.astype(np.float64), c, 4.0)[:2] for o, c in pairs]
    return np.array(each), [o.kept for o in outs]


def main() -> None:
    torch.set_num_threads(2)
    den = Denoiser(sys.argv[1], "cpu")
    fitted = den.gain
    sets = sys.argv[2] if len(sys.argv) > 2 else "archive:500,uniform:500,archive:100"
    for name in sets.split(","):
        sampling, dose = name.split(":")
        cases = scenes(777, 16, float(dose), 128, 4.0, sampling)
        den.gain = fitted
        fit, kept = psnr_ssim(den, cases)
        forced = []
        for k in KEEPS:
            den.gain = StructureGain((0.0,), (k,))
            forced.append(psnr_ssim(den, cases)[0])
        forced = np.stack(forced)  # (keeps, scenes, 2)
        best = np.nan_to_num(forced[:, :, 0], nan=-np.inf).argmax(0)
        oracle = forced[best, np.arange(len(cases)), 0]
        columns = "; ".join(
            f"keep {k:g} {np.nanmean(f[:, 0]):.2f} / {np.nanmean(f[:, 1]):.3f}"
            for k, f in zip(KEEPS, forced, strict=True)
        )
        print(
            f"## {name}: fitted {np.nanmean(fit[:, 0]):.2f} / {np.nanmean(fit[:, 1]):.3f}; "
            f"{columns}; per-scene best constant {np.nanmean(oracle):.2f} dB"
        )
        for i in range(len(cases)):
            each = " ".join(f"{forced[j, i, 0]:6.2f}" for j in range(len(KEEPS)))
            print(
                f"  scene {i:2d} kept {kept[i]:.2f} fitted {fit[i, 0]:6.2f} | {each} "
                f"| best keep {KEEPS[best[i]]:g}",
                flush=True,
            )


if __name__ == "__main__":
    main()
