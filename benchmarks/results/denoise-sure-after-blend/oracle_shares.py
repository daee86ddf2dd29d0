"""Per dim archive scene at 500 e/px: the shares of the guides (whole, local, wide) that the
truth says are best for the output as it stands, against the transfer's final PSNR.

    python oracle_shares.py DRUN   (seed 777, archive scenes 8-15, x4)

Three outputs before the blend and hold: the U-Net's alone; the box-constrained least
squares shares (each in [0, 1]) against the truth; the unconstrained ones clipped to
[0, 1]. "pre": PSNR before the blend (electrons at the source, the truth's range); "final":
the benchmark's PSNR of the transfer.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import lsq_linear

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes, scores

import cimp.denoise.apply as apply
from cimp.denoise.electrons import calibrate
from cimp.denoise.render import Noise, finish
from cimp.denoise.wiener import unet_inputs

torch.set_num_threads(2)
now = {}


def guided(self, free, g, e, cal, valid, estimate, known, after=None):
    m, u, t = valid[0, 0].numpy(), free[0, 0].double().numpy(), now["truth"]
    channels, noise = unet_inputs(e, cal, 4), Noise.of([cal])
    guides = [finish(torch.from_numpy(channels[k])[None, None], noise) for k in (1, 2, 3)]
    d = np.stack([(x[0, 0].double().numpy() - u)[m] for x in guides], 1)
    if now["shares"] == "none":
        w = np.zeros(3)
    elif now["shares"] == "clipped":
        w = np.clip(np.linalg.lstsq(d, (t - u)[m], rcond=None)[0], 0, 1)
    else:
        w = lsq_linear(d, (t - u)[m], bounds=(0, 1), method="bvls").x
    out = u.copy()
    out[m] += d @ w
    now["pre"] = 10 * np.log10((t.max() - t.min()) ** 2 / np.mean((out - t)[m] ** 2))
    now["w"] = w
    return torch.from_numpy(out).float()[None, None], 0.0


def main() -> None:
    apply.Denoiser.guided = guided
    denoiser = apply.Denoiser(sys.argv[1], "cpu")
    print(f"{sys.argv[1]} archive 500 e/px, shares of (whole, local, wide)")
    for i, c in enumerate(scenes(777, 16, 500.0, 128, 4.0, "archive")):
        if i < 8:
            continue
        cal = calibrate(c.source, c.image.astype(np.float32), denoiser.detector)
        now["truth"] = cal.electrons(np.minimum(c.truth, 65535).astype(np.float64)) / c.ratio
        row = []
        for shares in ("none", "best", "clipped"):
            now["shares"] = shares
            out = denoiser.transfer(c.image, c.source, c.changes).image.astype(np.float64)
            final = scores(out, c, 4.0)[0]
            w = " ".join(f"{x:.2f}" for x in now["w"])
            row.append(f"{shares} ({w}): pre {now['pre']:.2f} final {final:.2f}")
        print(f"scene {i}: " + " | ".join(row), flush=True)


if __name__ == "__main__":
    main()
