"""SURE of the output as the blend leaves it, over a grid of guide shares, with the traces
averaged over K perturbations: a prototype against the committed cimp (128 px images, whose
traces are read on the whole image), patched in at `apply.guide_share`.

For each share w on GRID: SURE(w) = |B(u + w d, y) - y|^2 + 2 tr(S J(w)), B the blend
run as it acts (`consistency.blend`, on the image y, or on a perturbed copy y + eps b for
the trace: b . (B(u' + w d', y + eps b) - B(u + w d, y)) / eps, u' and d' from the U-Net's
pass on the perturbed image, averaged over K draws b). The minimum on the grid is taken,
unless its fall below SURE(0) is under SIGNIFICANT x the noise's spread in it (as
committed). The committed `sure.guide_share` reads the traces before the blend, from one
draw, with the blend held at the U-Net's gains (linear).

    python grid_sure.py SETS VARIANTS DRUN [DRUN ...]

SETS: sampling:dose,... (e.g. archive:500,archive:100); VARIANTS: 'old' (committed) or
gK (K draws), comma-separated; sure.EPS from the environment variable EPS (default 0.1).
Prints per set, DRUN and variant: PSNR, SSIM and each scene's share.
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

import cimp.denoise.apply as apply
import cimp.denoise.sure as sure
from cimp.denoise.consistency import Seen
from cimp.denoise.render import blended

GRID = np.linspace(0.0, 1.0, 21)
CONTEXT = {}  # what the blend reads, captured from the transfer
COMMITTED_AFTER = apply._after_blend
COMMITTED_SHARE = apply.guide_share


def capture(free, seen, noise, valid, top):
    CONTEXT.update(seen=seen, noise=noise, valid=valid, top=top)
    return COMMITTED_AFTER(free, seen, noise, valid, top)


def change(e, cal, estimate, known, seed):
    """(the perturbed image, its draw in electrons, the U-Net's and the guide's changes)."""
    sure.SEED = seed
    noisy, step = sure.perturbed(e, cal)
    sure.SEED = 0
    moved = [
        sure._electrons(a, cal) - sure._electrons(b, cal)
        for a, b in zip(estimate(noisy), known, strict=True)
    ]
    return noisy, step, moved[0], moved[1]


def grid_share(draws):
    def guide_share(u, g, e, cal, valid, estimate, known=None, after=None):
        if valid.mean() < sure.MIN_SHARE:
            return 0.0
        noise, mask, top = (CONTEXT[k] for k in ("noise", "valid", "top"))

        def blend(out, seen):
            return apply._array(
                blended(torch.from_numpy(out)[None, None].float(), seen, noise, mask, top)
            )

        moves = [change(e, cal, estimate, known, seed) for seed in range(draws)]
        seens = [Seen(torch.from_numpy(m[0].astype(np.float32))[None, None]) for m in moves]
        risk, outs = [], []
        for w in GRID:
            out = blend(u + w * (g - u), CONTEXT["seen"])
            trace = 0.0
            for (_, step, du, dg), seen in zip(moves, seens, strict=True):
                moved = blend(u + du + w * (g + dg - u - du), seen)
                trace += float((step * (moved - out))[valid].sum()) / sure.EPS / draws
            risk.append(float(np.square((out - e)[valid]).sum()) + 2 * trace)
            outs.append(out)
        best = int(np.argmin(risk))
        fall = risk[0] - risk[best]
        shift = np.where(valid, outs[best] - outs[0], 0.0)
        if best == 0 or fall < sure.SIGNIFICANT * np.sqrt(sure._noise_power(shift, u, cal)):
            return 0.0
        return float(GRID[best])

    return guide_share


def main() -> None:
    torch.set_num_threads(2)
    sure.EPS = float(os.environ.get("EPS", "0.1"))
    apply._after_blend = capture
    for sampling, dose in (s.split(":") for s in sys.argv[1].split(",")):
        cases = scenes(777, 16, float(dose), 128, 4.0, sampling)
        for drun in sys.argv[3:]:
            denoiser = apply.Denoiser(drun, "cpu")
            for variant in sys.argv[2].split(","):
                apply.guide_share = (
                    COMMITTED_SHARE if variant == "old" else grid_share(int(variant[1:]))
                )
                outs = [denoiser.transfer(c.image, c.source, c.changes) for c in cases]
                scored = [scores(o.image, c, 4.0) for o, c in zip(outs, cases, strict=True)]
                psnr, ssim = (np.nanmean([s[i] for s in scored]) for i in (0, 1))
                shares = " ".join(f"{o.guide:.2f}" for o in outs)
                print(
                    f"{sampling} {dose} {drun} {variant}: {psnr:.2f} {ssim:.3f} | {shares}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
