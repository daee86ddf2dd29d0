"""Tried and not kept: a band of the output's structure kept only where the input confirms
it on noise the structure was not drawn from. The image's noise is split in two
independent parts (recorrupted: y1 = y + a m, y2 = y - m / a, m a draw of the image's own
noise, `sure.noise_like`); the U-Net (one grid placement) renders y1, and its structure in
a band is tested on y2: T = <y2, b1> / sd. After the hold, the output's band is dropped
where T <= 3 (`drop`), or scaled to the upper confidence bound of its regression on y2
(`bound`: clip(beta + 2 se, 0, 1), kept where beta < -2 se: the noise model broken);
bands: finer than the 1.2 px window (`--bands 1`), or the three finer than 19.2 px (3).

    python confirm.py DRUN DOSE SAMPLING [bands]   (seed 777, 16 scenes, x4; a = 0.5)
"""

import itertools
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

import cimp.denoise.apply as apply
from cimp.denoise import render
from cimp.denoise.consistency import WINDOWS, windowed
from cimp.denoise.electrons import stabilise, unstabilise
from cimp.denoise.render import Noise, correct, level
from cimp.denoise.sure import _noise_power, noise_like
from cimp.denoise.tiles import tiled
from cimp.denoise.wiener import unet_inputs

ALPHA = 0.5


def bands(x: np.ndarray) -> tuple[list[np.ndarray], float]:
    """x (H, W) as its bands between the hold's windows (fine to coarse) and its mean."""
    t = torch.from_numpy(x)[None, None].float()
    levels = [t] + [windowed(t, s) for s in sorted(WINDOWS)] + [t.mean().expand_as(t)]
    return [(a - b)[0, 0].double().numpy() for a, b in itertools.pairwise(levels)], float(t.mean())


def rendered(denoiser, e, cal, cond) -> np.ndarray:
    """The U-Net's clean electrons of e, one grid placement."""
    noise = Noise.of([cal])
    mean = level(noise, torch.from_numpy(e)[None, None])
    net = denoiser.unet

    def run(tiles):
        rows = [0] * len(tiles)
        x = tiles.to(memory_format=torch.channels_last)
        return correct(net, x, cond[rows], noise[rows], mean[rows])

    config = net.config
    inputs = unet_inputs(e, cal, config.inputs, config.guide_smoothing, config.weighed_means)
    z = np.asarray(tiled(run, inputs, 512, multiple=config.multiple), np.float64)
    return np.maximum(unstabilise(torch.from_numpy(z), cal.slope, cal.floor).numpy(), 0.0)


def main() -> None:
    torch.set_num_threads(2)
    denoiser = apply.Denoiser(sys.argv[1], "cpu")
    dose, sampling = float(sys.argv[2]), sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    kept, held_to = {}, render.held_to

    def record(*args):
        kept["args"] = args
        return held_to(*args)

    apply.held_to = record
    rows = {"as committed": [], "drop": [], "bound": []}
    for c in scenes(777, 16, dose, 128, 4.0, sampling):
        rows["as committed"].append(
            scores(denoiser.transfer(c.image, c.source, c.changes).image.astype(float), c, 4.0)
        )
        with torch.inference_mode():
            _, ratio, cal, e, cond = denoiser.conditioning(c.image, c.source, c.changes)
            z = stabilise(torch.from_numpy(e.astype(np.float64)), cal.slope, cal.floor)
            m = noise_like(cal, float(e.mean()), e.shape, np.random.default_rng(1))
            m = torch.from_numpy(m)
            y1 = unstabilise(z + ALPHA * m, cal.slope, cal.floor).numpy().astype(np.float32)
            y2 = unstabilise(z - m / ALPHA, cal.slope, cal.floor).numpy()
            y2 = y2 - y2.mean()
            drawn = bands(rendered(denoiser, y1, cal, cond))[0][:count]
            held = held_to(*kept["args"])[0, 0].double().numpy()
            parts = bands(held)[0][:count]
        drop, bound = held.copy(), held.copy()
        for b1, b in zip(drawn, parts, strict=True):
            power = max(float((b1 * b1).sum()), 1e-30)
            sd = np.sqrt((1 + 1 / ALPHA**2) * _noise_power(b1, held, cal))
            dot = float((y2 * b1).sum())
            beta, se = dot / power, sd / power
            if dot <= 3.0 * sd:  # T <= 3
                drop -= b
            if beta >= -2.0 * se:
                bound -= (1.0 - float(np.clip(beta + 2.0 * se, 0.0, 1.0))) * b
        top = float(np.iinfo(c.image.dtype).max)
        for name, x in (("drop", drop), ("bound", bound)):
            out = np.minimum(cal.counts(ratio * np.maximum(x, 0.0)), top)
            rows[name].append(scores(out, c, 4.0))
    print(f"{sys.argv[1]}: {sampling} {dose:g} e/px, bands {count}, a {ALPHA}")
    for name, each in rows.items():
        each = np.array(each)
        psnr, ssim, _, blocks = np.nanmean(each, axis=0)
        print(
            f"{name:12s} {psnr:6.2f} / {ssim:.3f} / {100 * blocks:.2f} % | "
            + " ".join(f"{p:.1f}" for p in each[:, 0])
        )


if __name__ == "__main__":
    main()
