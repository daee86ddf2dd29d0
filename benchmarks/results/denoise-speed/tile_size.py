"""The U-Net's tile side on a large image: one held-out archive scene (seed 779, 100 e/px,
x4) of SIZE px transferred with tiles of each side in TILES, alternating in one process,
the best of PASSES each, and how far the outputs differ (counts); then, with `--memory
TILE`, one transfer's peak memory in a process of its own.

    python tile_size.py DRUN [SIZE]            python tile_size.py DRUN SIZE --memory TILE
"""

import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes

from cimp.denoise.apply import Denoiser

TILES = (512, 1024)
PASSES = 3


def main() -> None:
    torch.set_num_threads(2)
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    den = Denoiser(sys.argv[1], "cpu")
    (case,) = scenes(779, 1, 100.0, size, 4.0, "archive")
    if "--memory" in sys.argv:
        tile = int(sys.argv[sys.argv.index("--memory") + 1])
        before = _peak_mb()
        den.transfer(case.image, case.source, case.changes, tile=tile)
        print(f"{size} px, tiles of {tile}: peak memory {_peak_mb():.0f} MB ({before:.0f} before)")
        return
    best, outs = dict.fromkeys(TILES, np.inf), {}
    for _ in range(PASSES):
        for tile in TILES:
            start = time.perf_counter()
            outs[tile] = den.transfer(case.image, case.source, case.changes, tile=tile).image
            best[tile] = min(best[tile], time.perf_counter() - start)
    times = ", ".join(f"tiles of {t}: {s:.2f} s" for t, s in best.items())
    diff = float(np.abs(outs[TILES[0]] - outs[TILES[1]]).max())
    print(f"{size} px: {times}; the outputs differ by {diff:.2f} counts at most")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
