"""What a DRUN's output shows beyond its own mean level, per scene: its PSNR / SSIM, those
of a flat image at its mean, and of a flat image at the truth's mean (the best any flat
image can do), beside the Fourier Wiener peer's (tuned as the benchmark tunes it).

    python structure.py DRUN DOSE [archive|uniform] [figure.png]   (seed 777, 16 scenes, x4;
                                                         the figure: the dim scenes 8, 10, 14, 15)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import FLAT, run_peer, scenes, scores, tune

from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    drun, dose = sys.argv[1], float(sys.argv[2])
    sampling = sys.argv[3] if len(sys.argv) > 3 else "archive"
    denoiser = Denoiser(drun, "cpu")
    cases = scenes(777, 16, dose, 128, 4.0, sampling)
    param = tune("fourier_wiener", scenes(778, 4, dose, 128, 4.0, sampling), 4.0)
    outputs = {"Fourier Wiener": run_peer("fourier_wiener", param, cases, 4.0)[0]}
    outputs["cimp"] = [
        denoiser.transfer(c.image, c.source, c.changes).image.astype(np.float64) for c in cases
    ]
    outputs[FLAT] = [np.full_like(o, o.mean()) for o in outputs["cimp"]]
    outputs["truth's mean, flat"] = [np.full(c.truth.shape, c.truth.mean()) for c in cases]
    if len(sys.argv) > 4:
        figure(cases, outputs["cimp"], sys.argv[4])
    print(f"{drun}: {sampling} {dose:g} e/px, PSNR / SSIM, mean | per scene")
    for name, outs in outputs.items():
        each = np.array([scores(o, c, 4.0)[:2] for o, c in zip(outs, cases, strict=True)])
        mean = np.nanmean(each, axis=0)
        print(
            f"{name:18s} {mean[0]:6.2f} / {mean[1]:.3f} | "
            + " ".join(f"{p:.1f}/{s:.2f}" for p, s in each)
        )


def figure(cases, outputs, path: str, picked=(8, 10, 14, 15)) -> None:
    """Input (smoothed 4 px: what it holds at that scale), truth and output of `picked`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.ndimage import gaussian_filter

    fig, axes = plt.subplots(len(picked), 3, figsize=(7.5, 2.5 * len(picked)))
    for row, i in zip(axes, picked, strict=True):
        smoothed = gaussian_filter(cases[i].image.astype(np.float64), 4.0)
        shown = [("input, 4 px", smoothed), ("truth", cases[i].truth), ("cimp", outputs[i])]
        for ax, (name, im) in zip(row, shown, strict=True):
            ax.imshow(im, cmap="gray")
            ax.set_title(f"scene {i}: {name}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=70)


if __name__ == "__main__":
    main()
