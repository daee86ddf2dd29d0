"""One set of the dose benchmark per scene: cimp (DRUN), the local Wiener and BM3D peers at
their parameters tuned for the set (`results.md`), and the oracle Wiener filters
(`denoise_ceilings`, which read the truth).

    python per_scene.py DRUN SAMPLING DOSE LOCAL_WIENER_PARAM BM3D_PARAM
    (archive 500 e/px: archive 500 0.002 1.2)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import PEERS, scenes, scores, to_target
from denoise_ceilings import oracle_local_wiener, oracle_wiener

from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    drun, sampling, dose, local, bm3d = sys.argv[1:6]
    cases = scenes(777, 16, float(dose), 128, 4.0, sampling)
    den = Denoiser(drun, "cpu")
    rows = []
    for i, c in enumerate(cases):
        t = den.transfer(c.image, c.source, c.changes)
        estimates = [
            t.image.astype(np.float64),
            to_target(PEERS["local_wiener"][0](c, float(local)), c, 4.0),
            to_target(PEERS["bm3d"][0](c, float(bm3d)), c, 4.0),
            to_target(oracle_local_wiener(c), c, 4.0),
            to_target(oracle_wiener(c), c, 4.0),
        ]
        row = [scores(x, c, 4.0)[0] for x in estimates]
        rows.append(row)
        print(
            f"scene {i:2d} cimp {row[0]:6.2f} | local Wiener {row[1]:6.2f} BM3D {row[2]:6.2f} "
            f"| oracle local Wiener {row[3]:6.2f} oracle Wiener {row[4]:6.2f} "
            f"| kept {t.kept:.2f} guide share {t.guide:.2f} "
            f"| {c.source['pixel_size']:.3g} nm/px",
            flush=True,
        )
    means = np.nanmean(np.array(rows), axis=0)
    print("mean " + " ".join(f"{m:.2f}" for m in means))


if __name__ == "__main__":
    main()
