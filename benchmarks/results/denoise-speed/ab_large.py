"""A large image's transfer at the session's start (`cimp_old`, old_package.sh) and now, in
one process, alternating: one held-out archive scene (seed 779, 100 e/px, x4) of SIZE px,
the best of PASSES each (the user's real files are 1-4k px: tiles, and SURE on the centre).

    PYTHONPATH=/tmp/cimp-old python ab_large.py DRUN [SIZE]
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from cimp_old.denoise.apply import Denoiser as Old
from denoise import scenes

from cimp.denoise.apply import Denoiser

PASSES = 3


def main() -> None:
    torch.set_num_threads(2)
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    (case,) = scenes(779, 1, 100.0, size, 4.0, "archive")
    dens = {"before": Old(sys.argv[1], "cpu"), "now": Denoiser(sys.argv[1], "cpu")}
    best = {k: float("inf") for k in dens}
    for _ in range(PASSES):
        for k, den in dens.items():
            start = time.perf_counter()
            den.transfer(case.image, case.source, case.changes)
            best[k] = min(best[k], time.perf_counter() - start)
    before, now = best.values()
    print(f"{size} px: before {before:.2f} s, now {now:.2f} s: {before / now:.2f}x faster")


if __name__ == "__main__":
    main()
