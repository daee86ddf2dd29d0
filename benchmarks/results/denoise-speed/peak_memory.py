"""The peak memory of one transfer of a large image, at the session's start (`old`, the
`cimp_old` of old_package.sh) or now (`new`), each in a process of its own: one held-out
archive scene (seed 779, 100 e/px, x4) of SIZE px.

    PYTHONPATH=/tmp/cimp-old python peak_memory.py DRUN old|new [SIZE]
"""

import importlib
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes


def main() -> None:
    torch.set_num_threads(2)
    which, size = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2048
    package = {"old": "cimp_old", "new": "cimp"}[which]
    denoiser = importlib.import_module(f"{package}.denoise.apply").Denoiser(sys.argv[1], "cpu")
    (case,) = scenes(779, 1, 100.0, size, 4.0, "archive")
    before = _peak_mb()
    start = time.perf_counter()
    denoiser.transfer(case.image, case.source, case.changes)
    print(
        f"{which}, {size} px: {time.perf_counter() - start:.2f} s (the first transfer), peak "
        f"memory {_peak_mb():.0f} MB ({before:.0f} MB before the transfer)"
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
