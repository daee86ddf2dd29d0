"""Where a DRUN's error lies, per scene of one benchmark set: PSNR of the U-Net alone (no
blend, no hold) and of the whole transfer, and the share of each one's squared error
that lies at coarse scales (the error blurred by a Gaussian of SIGMA px), beside the local
Wiener peer's.

    python error_scales.py DRUN [archive|uniform] [dose] [the local Wiener peer's parameter]
    (seed 777, 16 scenes, x4; the peer's parameter as the benchmark tuned it: 0.002 at
    archive 500 e/px)
"""

import sys
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import PEERS, scenes, scores, to_target

from cimp.denoise.apply import Denoiser
from cimp.instrument.detector import UINT16_MAX

SIGMA = 4.0  # px: coarser than the blend's finer window (4.8 px)
RATIO = 4.0


def coarse_share(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Share of the squared error of `estimate` that its blur at SIGMA px keeps."""
    error = np.minimum(estimate, UINT16_MAX) - np.minimum(truth, UINT16_MAX)
    return float(np.sum(gaussian_filter(error, SIGMA) ** 2) / np.sum(error**2))


def main() -> None:
    torch.set_num_threads(2)
    denoiser = Denoiser(sys.argv[1], "cpu")
    sampling = sys.argv[2] if len(sys.argv) > 2 else "archive"
    dose = float(sys.argv[3]) if len(sys.argv) > 3 else 500.0
    method = PEERS["local_wiener"][0]
    param = float(sys.argv[4]) if len(sys.argv) > 4 else 0.002
    print(f"{sys.argv[1]} {sampling} {dose:g} e/px; coarse: share of squared error at > {SIGMA} px")
    print("scene | U-Net alone PSNR, coarse | cimp PSNR, coarse | local Wiener PSNR, coarse")
    for i, case in enumerate(scenes(777, 16, dose, 128, RATIO, sampling)):
        raw = denoiser.transfer(case.image, case.source, case.changes, hold=False).image
        full = denoiser.transfer(case.image, case.source, case.changes).image
        peer = to_target(method(case, param), case, RATIO)
        cells = [
            f"{scores(e.astype(np.float64), case, RATIO)[0]:6.2f} {coarse_share(e, case.truth):.2f}"
            for e in (raw, full, peer)
        ]
        print(f"{i:5d} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
