"""The dose benchmark's 8 sets (16 held-out scenes of 128 px, x4) at the session's start
(`cimp_old`, made by old_package.sh) and now, in one process: PSNR / SSIM, blocks beyond
3 sigma, SURE's mean guide share, the seconds of a pass, and per scene the change.

    PYTHONPATH=/tmp/cimp-old python ab_quality.py DRUN [SETS]
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from cimp_old.denoise.apply import Denoiser as Old
from denoise import scenes, scores

from cimp.denoise.apply import Denoiser

SETS = "a5,a20,a100,a500,u5,u20,u100,u500"


def main() -> None:
    torch.set_num_threads(2)
    dens = {"before": Old(sys.argv[1], "cpu"), "now": Denoiser(sys.argv[1], "cpu")}
    for key in (sys.argv[2] if len(sys.argv) > 2 else SETS).split(","):
        sampling = {"a": "archive", "u": "uniform"}[key[0]]
        cases = scenes(777, 16, float(key[1:]), 128, 4.0, sampling)
        rows = {}
        for name, den in dens.items():
            start = time.perf_counter()
            outs = [den.transfer(c.image, c.source, c.changes) for c in cases]
            seconds = time.perf_counter() - start
            pairs = zip(outs, cases, strict=True)
            each = np.array([scores(o.image.astype(np.float64), c, 4.0) for o, c in pairs])
            rows[name] = (each, np.mean([o.guide for o in outs]), seconds)
        text = [
            f"{name} {_score(each)} share {share:.2f}, {seconds:.2f} s"
            for name, (each, share, seconds) in rows.items()
        ]
        (a, _, _), (b, _, _) = rows.values()
        change = b[:, 0] - a[:, 0]
        known = np.isfinite(change)
        print(
            f"{sampling} {key[1:]} e/px: {' | '.join(text)} | "
            f"{np.nanmean(b[:, 0]) - np.nanmean(a[:, 0]):+.2f} dB, "
            f"{np.nanmean(b[:, 1]) - np.nanmean(a[:, 1]):+.3f} SSIM; per scene "
            f"{change[known].min():+.2f} to {change[known].max():+.2f} dB",
            flush=True,
        )


def _score(each: np.ndarray) -> str:
    psnr, ssim, _, beyond = np.nanmean(each, axis=0)
    return f"{psnr:.2f} / {ssim:.3f} ({100 * beyond:.2f} % beyond 3 sigma)"


if __name__ == "__main__":
    main()
