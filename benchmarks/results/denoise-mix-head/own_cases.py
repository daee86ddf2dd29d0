"""A DRUN's validation loss (`train.validate`, -dB) on the first N twin cases it trained on
and on N held-out ones, per sampling: does the U-Net know its own cases' noise?

    python own_cases.py DRUN [N]
"""

import json
import sys
from pathlib import Path

from cimp.checkpoint import load_weights
from cimp.denoise import train
from cimp.denoise.unet import FiLMUNet, UNetConfig
from cimp.run import Run


def main() -> None:
    drun, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 300
    config = json.loads((drun / "config.json").read_text())
    shape = UNetConfig.saved(config["unet"])
    unet = FiLMUNet(shape)
    load_weights(unet, drun / "unet.safetensors")
    unet.eval()
    run = Run(drun / "cimp")
    encoder, normalizer = run.load_model("cpu"), run.normalizer
    seed = config["train"]["seed"]
    for sampling in ("archive", "uniform"):
        for name, twin_seed in (("trained on", seed), ("held out", seed + train.VAL_SEED)):
            cases = train.twin_cases(twin_seed, n, 128, sampling, low_dose_share=train.LOW_DOSES)
            examples = train._twin_examples(encoder, normalizer, shape, cases)
            loss = train.validate(unet, examples, "cpu", limit=n)
            print(f"{sampling} {name}: {loss:.2f}", flush=True)


if __name__ == "__main__":
    main()
