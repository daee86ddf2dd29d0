import sys
sys.path.insert(0, "/work/main/benchmarks")
import numpy as np, torch
from denoise import scenes, scores
from cimp.denoise.apply import Denoiser
torch.set_num_threads(2)
d = Denoiser(sys.argv[1], "cpu")
for samp in ("archive", "uniform"):
    for dose in (5.0, 20.0, 100.0, 500.0):
        cases = scenes(777, 16, dose, 128, 4.0, samp)
        s = [scores(d.transfer(c.image, c.source, c.changes).image.astype(np.float64), c, 4.0) for c in cases]
        m = np.nanmean(s, axis=0)
        print(f"| {samp}, {dose:g} | {m[0]:.2f} / {m[1]:.3f} | {100*m[3]:.2f} % |", flush=True)
