"""One set per scene: cimp's 32 px local guide alone, read as cimp reads it (the algebraic
inverse of the variance-stabilising transform, `render.finish`), beside the local Wiener
peer (the same filter, read through the asymptotically unbiased inverse) at cimp's own
0.01 noise-only frequencies per window and at the peer's tuned 0.002, and cimp's whole
transfer with SURE's guide share as read and forced to 1.

    python guide_alone.py DRUN SAMPLING DOSE   (archive 500)
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import PEERS, scenes, scores, to_target

from cimp.denoise import apply
from cimp.denoise.electrons import calibrate
from cimp.denoise.render import Noise, finish
from cimp.denoise.wiener import unet_inputs


def main() -> None:
    torch.set_num_threads(2)
    den = apply.Denoiser(sys.argv[1], "cpu")
    cases = scenes(777, 16, float(sys.argv[3]), 128, 4.0, sys.argv[2])
    read = [den.transfer(c.image, c.source, c.changes) for c in cases]
    share = apply.guide_share
    apply.guide_share = lambda *args, **kwargs: 1.0
    whole = [den.transfer(c.image, c.source, c.changes) for c in cases]
    apply.guide_share = share
    peer = PEERS["local_wiener"][0]
    rows = []
    for i, c in enumerate(cases):
        cal = calibrate(c.source, c.image.astype(np.float32), den.detector)
        local = unet_inputs(cal.electrons(c.image.astype(np.float32)), cal, 3)[2]
        alone = finish(torch.from_numpy(local)[None, None], Noise.of([cal]))[0, 0].numpy()
        estimates = [
            read[i].image.astype(np.float64),
            whole[i].image.astype(np.float64),
            cal.counts(4.0 * alone),
            to_target(peer(c, 0.01), c, 4.0),
            to_target(peer(c, 0.002), c, 4.0),
        ]
        row = [scores(x, c, 4.0)[0] for x in estimates]
        rows.append(row)
        print(
            f"scene {i:2d} | cimp {row[0]:6.2f} (share {read[i].guide:.2f}), share 1 {row[1]:6.2f} "
            f"| local guide alone {row[2]:6.2f} | peer 0.01 {row[3]:6.2f}, 0.002 {row[4]:6.2f}",
            flush=True,
        )
    print("mean " + " ".join(f"{m:.2f}" for m in np.nanmean(np.array(rows), axis=0)))


if __name__ == "__main__":
    main()
