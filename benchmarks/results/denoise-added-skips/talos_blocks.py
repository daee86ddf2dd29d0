"""The real Talos HAADF fixture at x4 (dwell time) through each DRUN: the share of 4x4
blocks beyond 3 and 4 sigma of the input's noise and the largest, with the hold at its
limit (`consistency.LIMIT`, 2.75 sigma) and at tighter ones, and without blend and hold.

    python talos_blocks.py DRUN...
"""

import sys
from pathlib import Path

import numpy as np
import torch

import cimp.denoise.consistency as consistency
from cimp.denoise.apply import Denoiser
from cimp.io import read

FIXTURE = "hyperspy-*-io/emd_files/fei_emd_image.emd"
LIMITS = (2.75, 2.5, 2.25)


def line(record, result) -> str:
    block = consistency.residuals(record.image, result.image, 4.0, result.calibration)[1]
    z = np.abs(block[np.isfinite(block)])
    return (
        f"beyond 3 sigma {100 * np.mean(z > 3):.2f} %, beyond 4 {100 * np.mean(z > 4):.3f} %, "
        f"largest {z.max():.1f}; pixels held {100 * result.held:.2f} %"
    )


def main() -> None:
    torch.set_num_threads(2)
    root = Path.home() / ".cache" / "cimp" / "test-data"
    record = read(next(root.glob(FIXTURE)))[0]
    asked = {"dwell_time": "x4"}
    for drun in sys.argv[1:]:
        denoiser = Denoiser(drun, "cpu")
        raw = denoiser.transfer(record.image, record.metadata, asked, hold=False)
        print(f"{drun} no blend, no hold: {line(record, raw)}", flush=True)
        for limit in LIMITS:
            consistency.LIMIT = limit
            held = denoiser.transfer(record.image, record.metadata, asked)
            print(f"{drun} hold at {limit} sigma: {line(record, held)}", flush=True)
        consistency.LIMIT = LIMITS[0]


if __name__ == "__main__":
    main()
