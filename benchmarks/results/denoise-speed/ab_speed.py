"""A transfer's time at the session's start (`cimp_old`, made by old_package.sh) and now, in
one process, alternating: ms per image on 16 held-out scenes of 128 px (the dose benchmark's,
x4), the median of PASSES each, and the ratio of each pair of passes.

    PYTHONPATH=/tmp/cimp-old python ab_speed.py DRUN [PASSES] [SETS]   (SETS: a500,u500,...)
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from cimp_old.denoise.apply import Denoiser as Old
from denoise import scenes

from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    passes = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    dens = {"old": Old(sys.argv[1], "cpu"), "new": Denoiser(sys.argv[1], "cpu")}
    for key in (sys.argv[3] if len(sys.argv) > 3 else "a5,a100,a500,u5,u100,u500").split(","):
        sampling = {"a": "archive", "u": "uniform"}[key[0]]
        cases = scenes(777, 16, float(key[1:]), 128, 4.0, sampling)
        times = {k: [] for k in dens}
        for den in dens.values():  # warm-up
            for c in cases[:3]:
                den.transfer(c.image, c.source, c.changes)
        for _ in range(passes):
            for k, den in dens.items():
                start = time.perf_counter()
                for c in cases:
                    den.transfer(c.image, c.source, c.changes)
                times[k].append((time.perf_counter() - start) / len(cases) * 1e3)
        old, new = (float(np.median(times[k])) for k in dens)
        pairs = np.array(times["old"]) / np.array(times["new"])
        print(
            f"{sampling} {key[1:]} e/px: before {old:.1f} ms, now {new:.1f} ms an image: "
            f"{old / new:.2f}x faster (pairs {pairs.min():.2f}-{pairs.max():.2f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
