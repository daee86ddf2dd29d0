"""The dose benchmark's honesty checks alone (`denoise.honesty`, `denoise.real_files`) for a
DRUN: reflections and vacuum contrast on the quiet scenes at 5-500 e/px, and the real Talos
fixture's blocks beyond 3 sigma and pixels held at x4.

    python honesty.py DRUN
"""

import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import honesty, real_files

from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    denoiser = Denoiser(sys.argv[1], "cpu")
    print(sys.argv[1])
    for row in honesty(denoiser, (5.0, 20.0, 100.0, 500.0), 4.0, 128):
        print(row)
    with tempfile.TemporaryDirectory() as folder:
        for row in real_files(denoiser, 4.0, Path(folder)):
            print({k: row[k] for k in ("file", "blocks_outside_3sigma", "pixels_held")})


if __name__ == "__main__":
    main()
