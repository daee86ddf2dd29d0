"""How far mixing estimates at inference can take archive 500 e/px, knowing the truth.

Per scene, the output before blend and hold is u + a (g - u) + b (w - u): u the U-Net's
clean estimate, g the local Wiener guide's, w a second-stage local Wiener filter of the
image with u as its pilot (BM3D's second stage, 64 px windows: the gain |U|^2 / (|U|^2 +
noise) per frequency). a and b on a 0.1 grid, the best per scene chosen against the truth:
a ceiling for any rule that picks them from the image (cimp's SURE picks a alone).

.venv/bin/python benchmarks/results/denoise-bf16/mixes.py DRUN [a500]
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes, scores

import cimp.denoise.apply as apply
from cimp.denoise import wiener
from cimp.denoise.electrons import stabilise, unstabilise

SIZE = 64  # px: the second stage's windows


def second_stage(e: np.ndarray, u: torch.Tensor, cal) -> torch.Tensor:
    """The local Wiener filter of the electrons `e` with the pilot `u` (electrons), in the
    stabilised units where the noise is known (`wiener.local_guide`'s windows and noise)."""
    z, p = (
        stabilise(torch.as_tensor(x, dtype=torch.float64), cal.slope, cal.floor) for x in (e, u)
    )
    h, w = z.shape
    window = wiener.sine_window(SIZE)
    spectra = []
    for x in (z, p):
        patches = wiener.windows(x, SIZE)
        means = patches.mean(dim=(1, 2), keepdim=True)
        spectra.append((means, torch.fft.rfft2((patches - means) * window)))
    (means, noisy), (_, pilot) = spectra
    line = wiener.line_spectrum(cal, float(np.mean(e)), SIZE)[: SIZE // 2 + 1]
    noise = torch.from_numpy(line) * window.square().sum()
    noise = noise * torch.from_numpy(wiener.window_noise(h, w, SIZE, 0.01)[0])
    gain = pilot.abs().square() / (pilot.abs().square() + noise)
    gain[..., 0, 0] = 1.0
    kept = means * window + torch.fft.irfft2(gain * noisy, s=(SIZE, SIZE))
    out = unstabilise(wiener.overlap_add(kept, h, w), cal.slope, cal.floor)
    return out.clamp_min(0.0).float()[None, None]


def psnr(denoiser, case) -> float:
    out = denoiser.transfer(case.image, case.source, case.changes).image
    return scores(out.astype(np.float64), case, 4.0)[0]


def main() -> None:
    torch.set_num_threads(2)
    key = sys.argv[2] if len(sys.argv) > 2 else "a500"
    sampling = {"a": "archive", "u": "uniform"}[key[0]]
    cases = scenes(777, 16, float(key[1:]), 128, 4.0, sampling)
    denoiser = apply.Denoiser(sys.argv[1], "cpu")
    sure, mix = apply.Denoiser.guided, {}

    def guided(self, free, g, e, cal, valid, estimate, known, after=None):
        if "ab" not in mix:
            return sure(self, free, g, e, cal, valid, estimate, known, after)
        if "w" not in mix:
            mix["w"] = second_stage(e, free[0, 0], cal)
        a, b = mix["ab"]
        return torch.where(valid, free + a * (g - free) + b * (mix["w"] - free), free), a

    apply.Denoiser.guided = guided
    grid = [(a, b) for a in np.arange(0, 1.01, 0.1) for b in np.arange(0, 1.01 - a, 0.1)]
    rows = []
    for i, case in enumerate(cases):
        mix.clear()

        now = psnr(denoiser, case)
        found = {}
        for ab in grid:
            mix["ab"] = ab
            found[ab] = psnr(denoiser, case)
        if not np.isfinite(now):  # saturated all over at the target: not scored
            continue
        pair = max((k for k in found if k[1] == 0), key=found.get)
        triple = max(found, key=found.get)
        rows.append((now, found[pair], found[triple]))
        print(
            f"scene {i:2d}: cimp {now:6.2f} | u, g best {found[pair]:6.2f} (a {pair[0]:.1f}) | "
            f"u, g, w best {found[triple]:6.2f} (a {triple[0]:.1f}, b {triple[1]:.1f})",
            flush=True,
        )
    mean = np.nanmean(rows, axis=0)
    print(f"{key} mean: cimp {mean[0]:.2f}, best of u, g {mean[1]:.2f}, of u, g, w {mean[2]:.2f}")


if __name__ == "__main__":
    main()
