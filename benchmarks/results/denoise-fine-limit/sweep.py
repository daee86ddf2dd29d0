"""The hold's limit in its finest window (its others at `consistency.LIMIT`), swept on the
same U-Net outputs: mean PSNR and blocks beyond 3 sigma per set.

    python sweep.py DRUN SEED [n]   (16 scenes of each of 8 sets, x4 by beam current;
                                     seed 778: the tuning scenes, 777: the benchmark's)
"""

import inspect
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scenes, scores

import cimp.denoise.apply as apply
from cimp.denoise import consistency, render

FINE = (2.75, 3.0, 3.25, 3.5, 4.0, np.inf)  # inf: no hold in the finest window
ONE = "        limit = LIMIT * sd\n"  # `project` rebuilt with the finest window's limit FINE
source = inspect.getsource(consistency.project)
assert source.count(ONE) == 1
space = dict(vars(consistency), LIMITS=(consistency.LIMIT,) * 3)
exec(textwrap.dedent(source.replace(ONE, ONE.replace("LIMIT", "LIMITS[i]"))), space)
render.project = space["project"]


def outputs(denoiser, case) -> list[np.ndarray]:
    """The transfer's output of `case` at each finest limit of FINE."""
    kept, held_to = {}, render.held_to

    def record(*args):
        kept["args"] = args
        return held_to(*args)

    apply.held_to = record
    result = denoiser.transfer(case.image, case.source, case.changes)
    top = float(np.iinfo(case.image.dtype).max)
    out = []
    for fine in FINE:
        space["LIMITS"] = (consistency.LIMIT, consistency.LIMIT, fine)
        clean = held_to(*kept["args"])[0, 0].cpu().numpy().astype(np.float64)
        out.append(np.minimum(result.calibration.counts(result.ratio * clean), top))
    return out


def main() -> None:
    torch.set_num_threads(2)
    drun, seed = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    denoiser = apply.Denoiser(drun, "cpu")
    print(f"{drun} seed {seed}, {n} scenes per set: mean PSNR / % of blocks beyond 3 sigma")
    print("set            " + " ".join(f"{f:>13g}" for f in FINE))
    for sampling in ("archive", "uniform"):
        for dose in (5.0, 20.0, 100.0, 500.0):
            cases = scenes(seed, n, dose, 128, 4.0, sampling)
            each = np.array([[scores(o, c, 4.0) for o in outputs(denoiser, c)] for c in cases])
            m = np.nanmean(each, axis=0)
            cells = " ".join(f"{p:6.2f}/{100 * b:5.2f}%" for p, _, _, b in m)
            print(f"{sampling:8s} {dose:4g}  {cells}", flush=True)


if __name__ == "__main__":
    main()
