"""One DRUN on the dose benchmark's scenes (seed 777, 16 a set, x4) with the guides read as
the lines were scanned and with the scan's line displacements undone (`scanlines`), in one
process: PSNR / SSIM, blocks beyond 3 sigma, the seconds of a pass, per scene the change.

    python paired.py DRUN [SETS]     (SETS: a5,a20,a100,a500,u5,u20,u100,u500, the default)
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

from cimp.denoise.apply import Denoiser

SETS = "a5,a20,a100,a500,u5,u20,u100,u500"


def main() -> None:
    torch.set_num_threads(2)
    den = Denoiser(sys.argv[1], "cpu")
    print(sys.argv[1])
    for key in (sys.argv[2] if len(sys.argv) > 2 else SETS).split(","):
        sampling = {"a": "archive", "u": "uniform"}[key[0]]
        dose = float(key[1:])
        cases = scenes(777, 16, dose, 128, 4.0, sampling)
        rows = []
        for straighten in (False, True):
            start = time.perf_counter()
            outs = [
                den.transfer(c.image, c.source, c.changes, straighten=straighten) for c in cases
            ]
            seconds = time.perf_counter() - start
            each = np.array(
                [
                    scores(o.image.astype(np.float64), c, 4.0)
                    for o, c in zip(outs, cases, strict=True)
                ]
            )
            rows.append((each, seconds))
        (a, ta), (b, tb) = rows
        print(
            f"{sampling} {dose:g}: as scanned {_score(a)} beyond 3 sigma) | straightened "
            f"{_score(b)}) | a pass {ta:.2f} -> {tb:.2f} s",
            flush=True,
        )
        change = b[:, 0] - a[:, 0]
        print("   per scene:", " ".join(f"{i}:{d:+.2f}" for i, d in enumerate(change)), flush=True)


def _score(each: np.ndarray) -> str:
    psnr, ssim, _, beyond = np.nanmean(each, axis=0)
    return f"{psnr:.2f} / {ssim:.3f} ({100 * beyond:.2f} %"


if __name__ == "__main__":
    main()
