"""What reading the scan's lines costs a transfer, same process, alternating, median of
PASSES: the archive and uniform 500 e/px sets (16 scenes of 128 px), one 512 px scene of
the archive's displaced session (seed 777, case 0) and the dose benchmark's 512 px speed
image (seed 779, 100 e/px), with the guides read as scanned and straightened; BM3D once on
each (its tuned parameter) for the ratio the benchmark reports. Then the search alone
(`scanlines.read`, the best of PASSES per image), summed over each job's images: whole
passes move by more than it costs on this machine.

    python speed.py DRUN
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import run_peer, scenes

from cimp.denoise import scanlines
from cimp.denoise.apply import Denoiser
from cimp.denoise.electrons import calibrate

PASSES = 5


def seconds(den, cases, straighten: bool) -> float:
    start = time.perf_counter()
    for c in cases:
        den.transfer(c.image, c.source, c.changes, straighten=straighten)
    return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(2)
    den = Denoiser(sys.argv[1], "cpu")
    jobs = {
        "archive 500 e/px, 16 x 128 px": (scenes(777, 16, 500.0, 128, 4.0, "archive"), 1.2),
        "uniform 500 e/px, 16 x 128 px": (scenes(777, 16, 500.0, 128, 4.0, "uniform"), 1.0),
        "archive 500 e/px, 512 px, displaced lines": (
            scenes(777, 1, 500.0, 512, 4.0, "archive"),
            1.2,
        ),
        "the benchmark's 512 px speed image": (scenes(779, 1, 100.0, 512, 4.0, "archive"), 1.0),
    }
    for name, (cases, param) in jobs.items():
        seconds(den, cases, True)  # warm-up at this size
        times = {False: [], True: []}
        for _ in range(PASSES):
            for straighten in (False, True):
                times[straighten].append(seconds(den, cases, straighten))
        bm3d = run_peer("bm3d", param, cases, 4.0)[1]
        scanned, straight = (float(np.median(times[k])) for k in (False, True))
        print(
            f"{name}: as scanned {scanned:.3f} s ({bm3d / scanned:.1f}x BM3D), straightened "
            f"{straight:.3f} s ({bm3d / straight:.1f}x BM3D): {straight / scanned:.2f}x the time;"
            f" the search alone {search(cases):.3f} s",
            flush=True,
        )


def search(cases) -> float:
    """Seconds `scanlines.read` takes on the cases, the best of PASSES for each."""
    total = 0.0
    for c in cases:
        cal = calibrate(c.source)
        e = cal.electrons(c.image.astype(np.float64))
        best = np.inf
        for _ in range(PASSES):
            start = time.perf_counter()
            scanlines.read(e, cal)
            best = min(best, time.perf_counter() - start)
        total += best
    return total


if __name__ == "__main__":
    main()
