"""Fit the structure gain (`cimp.denoise.structure`) onto a DRUN trained before it existed,
as `cimp train-denoiser` now does after its last step (same cases: seed + FIT_SEED).

    python fit_gain.py DRUN [OUT_DRUN]   (OUT_DRUN: a copy with the gain; default: in place)
"""

import json
import shutil
import sys
import time
from pathlib import Path

import torch

from cimp.config import DenoiserConfig
from cimp.denoise import train
from cimp.denoise.apply import Denoiser


def main() -> None:
    torch.set_num_threads(2)
    drun = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else drun
    if out != drun:
        shutil.copytree(drun, out)
    config = json.loads((out / "config.json").read_text())
    cfg = DenoiserConfig(**config["train"])
    den = Denoiser(out, "cpu")
    started = time.perf_counter()
    fitting = train.fitting_examples(cfg, den.encoder, den.normalizer, den.unet.config)
    gain = train.fit_structure_gain(den.unet, fitting, "cpu")
    config["structure_gain"] = gain.to_dict()
    (out / "config.json").write_text(json.dumps(config, indent=2))
    print(f"{out}: {len(fitting)} cases, {time.perf_counter() - started:.0f} s")
    for k, g in zip(gain.knots, gain.gains, strict=True):
        print(f"  log10 snr {k:6.2f}  gain {g:.2f}")


if __name__ == "__main__":
    main()
