"""The dose benchmark's large-image speed (one 512 px archive scene at 100 e/px, x4,
against BM3D in the same process) and the seconds per 128 px image of the archive 500
e/px set, for each number of SURE draws given (`sure.DRAWS`, where the code has it: the
committed code reads one).

    python speed_draws.py DRUN DRAWS[,DRAWS...] LABEL
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import denoise

import cimp.denoise.sure as sure
from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    drun, label = sys.argv[1], sys.argv[3]
    denoiser = Denoiser(drun, "cpu")
    small = denoise.scenes(777, 16, 500.0, 128, 4.0, "archive")
    for draws in (int(x) for x in sys.argv[2].split(",")):
        sure.DRAWS = draws
        large = denoise.large_image_speed(denoiser, 4.0)
        denoise.run_cimp(denoiser, small[:4])  # warm-up
        seconds = denoise.run_cimp(denoiser, small, passes=3)[1] / len(small)
        print(f"{label} draws {draws}: {large} | 128 px: {seconds:.3f} s", flush=True)


if __name__ == "__main__":
    main()
