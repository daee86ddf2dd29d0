"""A 128 px transfer under `torch.no_grad` (before) and `torch.inference_mode` (now): the
uniform 500 e/px scenes, same process, alternating, median of 6 passes.

.venv/bin/python benchmarks/results/denoise-archive-share/inference_mode_speed.py DRUN
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes

from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    denoiser = Denoiser(sys.argv[1], "cpu")
    cases = scenes(777, 16, 500.0, 128, 4.0, "uniform")
    transfer = Denoiser.transfer.__wrapped__  # undecorated: the context is chosen here
    modes = {"before": torch.no_grad, "now": torch.inference_mode}
    times, outputs = {name: [] for name in modes}, {}
    for _ in range(6):
        for name, mode in modes.items():
            start = time.perf_counter()
            with mode():
                outputs[name] = [
                    transfer(denoiser, c.image, c.source, c.changes).image for c in cases
                ]
            times[name].append(1000 * (time.perf_counter() - start) / len(cases))
    for name, ms in times.items():
        print(f"{name}: median {np.median(ms):.1f} ms per image, passes {np.round(ms, 1)}")
    print(f"before / now: {np.median(times['before']) / np.median(times['now']):.3f}")
    diff = max(float(np.abs(a - b).max()) for a, b in zip(*outputs.values(), strict=True))
    print(f"largest difference between the outputs: {diff} counts")


if __name__ == "__main__":
    main()
