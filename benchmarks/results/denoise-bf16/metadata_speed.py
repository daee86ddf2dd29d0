"""The conditioning's metadata shift before (two frames and a concat) and now (one table):
whole 128 px transfers of the uniform 500 e/px scenes, same process, alternating.

.venv/bin/python benchmarks/results/denoise-bf16/metadata_speed.py DRUN
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))
from denoise import scenes

import cimp.denoise.condition as condition
from cimp.denoise.apply import Denoiser
from cimp.embeddings import embed_metadata


def before(model, normalizer, sources, targets):
    source, target = pd.DataFrame(sources), pd.DataFrame(targets)
    both = embed_metadata(model, normalizer, pd.concat([source, target], ignore_index=True))
    return both[len(source) :] - both[: len(source)]


def main() -> None:
    torch.set_num_threads(2)
    denoiser = Denoiser(sys.argv[1], "cpu")
    cases = scenes(777, 16, 500.0, 128, 4.0, "uniform")
    times = {"before": [], "now": []}
    for _ in range(6):
        for name, shift in (("before", before), ("now", condition.metadata_shift)):
            condition.metadata_shift = shift
            start = time.perf_counter()
            for case in cases:
                denoiser.transfer(case.image, case.source, case.changes)
            times[name].append(1000 * (time.perf_counter() - start) / len(cases))
    for name, ms in times.items():
        print(f"{name}: median {np.median(ms):.1f} ms per image, passes {np.round(ms, 1)}")
    print(f"before / now: {np.median(times['before']) / np.median(times['now']):.3f}")


if __name__ == "__main__":
    main()
