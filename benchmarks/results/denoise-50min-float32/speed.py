"""Denoising time of two DRUNs on one 512 px scene (100 e/px, x4), in one process,
alternating, median of 5 passes each after a warm-up.

    python speed.py DRUN_A DRUN_B
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes

from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    runs = [Denoiser(d, "cpu") for d in sys.argv[1:3]]
    case = scenes(777, 1, 100.0, 512, 4.0, "archive")[0]
    times = [[], []]
    for den in runs:
        den.transfer(case.image, case.source, case.changes)
    for _ in range(5):
        for den, each in zip(runs, times, strict=True):
            started = time.perf_counter()
            den.transfer(case.image, case.source, case.changes)
            each.append(time.perf_counter() - started)
    a, b = (statistics.median(t) for t in times)
    print(f"A {sys.argv[1]}: {a:.3f} s; B {sys.argv[2]}: {b:.3f} s; A / B {a / b:.2f}")


if __name__ == "__main__":
    main()
