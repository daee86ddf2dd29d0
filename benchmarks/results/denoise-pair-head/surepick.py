"""Two DRUNs per scene: each one's score, the per-scene best (knowing the truth) and the one
Monte Carlo SURE picks without the truth (the whole transfer's squared error against the
clean input, in electrons, its trace from one perturbation by the image's own noise,
`cimp.denoise.sure.perturbed`).

.venv/bin/python benchmarks/results/denoise-pair-head/surepick.py DRUN_A DRUN_B
Per scene: SURE's difference B - A | the true one, both over A's true squared error.
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes, scores

from cimp.denoise.apply import Denoiser
from cimp.denoise.consistency import unclipped
from cimp.denoise.sure import EPS, perturbed

torch.set_num_threads(2)
nets = [Denoiser(p, "cpu") for p in sys.argv[1:3]]


def judged(net, case) -> tuple[tuple, float, float]:
    """(the benchmark's scores, SURE's squared error less the noise's, the true one)."""
    t = net.transfer(case.image, case.source, case.changes)
    cal, ratio = t.calibration, t.ratio
    e = cal.electrons(case.image.astype(np.float64))
    moved, _ = perturbed(e.astype(np.float32), cal)
    counts = np.round(cal.counts(moved.astype(np.float64)))
    noisier = np.clip(counts, 0, np.iinfo(case.image.dtype).max).astype(case.image.dtype)
    step = (cal.electrons(noisier.astype(np.float64)) - e) / EPS
    f = cal.electrons(t.image.astype(np.float64)) / ratio
    change = cal.electrons(net.transfer(noisier, case.source, case.changes).image) / ratio - f
    valid = unclipped(case.image) & (t.image < np.iinfo(case.image.dtype).max)
    sure = ((f - e) ** 2)[valid].sum() + 2 * (step * change)[valid].sum() / EPS
    true = ((f - cal.electrons(case.clean.astype(np.float64))) ** 2)[valid].sum()
    return scores(t.image.astype(np.float64), case, 4.0), float(sure), float(true)


for sampling in ("archive", "uniform"):
    for dose in (5.0, 20.0, 100.0, 500.0):
        cases = scenes(777, 16, dose, 128, 4.0, sampling)
        rows = [[judged(net, c) for net in nets] for c in cases]
        sc = np.array([[r[0] for r in row] for row in rows])
        sure = np.array([[r[1] for r in row] for row in rows])
        true = np.array([[r[2] for r in row] for row in rows])
        ok = ~np.isnan(sc[:, 0, 0])
        pick = np.argmin(sure, axis=1)
        chosen = sc[np.arange(len(sc)), pick][ok]
        a, b = sc[ok, 0].mean(axis=0), sc[ok, 1].mean(axis=0)
        best = np.argmax(sc[:, :, 0], axis=1)
        oracle = sc[np.arange(len(sc)), best][ok].mean(axis=0)
        agree = int((pick == best)[ok].sum())
        print(
            f"{sampling} {dose:g}: A {a[0]:.2f}/{a[1]:.3f} B {b[0]:.2f}/{b[1]:.3f} SURE pick "
            f"{chosen[:, 0].mean():.2f}/{chosen[:, 1].mean():.3f} picks B {int(pick[ok].sum())}/"
            f"{ok.sum()}, as the best {agree}; best {oracle[0]:.2f}/{oracle[1]:.3f}",
            flush=True,
        )
        scale = np.maximum(np.abs(true[:, 0]), 1.0)
        gaps = (sure[:, 1] - sure[:, 0]) / scale, (true[:, 1] - true[:, 0]) / scale
        pairs = zip(*gaps, strict=True)
        print("   sureB-A/trueB-A:", " ".join(f"{s:+.2f}|{t:+.2f}" for s, t in pairs))
