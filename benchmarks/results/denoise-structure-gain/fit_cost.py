"""The gain fit's cost against a validation pass (train.FIT_COST), same process, the seed 0 U-Net.

python fit_cost.py DRUN
"""

import json
import sys
import time

import torch

from cimp.config import DenoiserConfig
from cimp.denoise import train
from cimp.denoise.apply import Denoiser

torch.set_num_threads(2)
den = Denoiser(sys.argv[1], "cpu")
cfg = DenoiserConfig(**json.loads(open(sys.argv[1] + "/config.json").read())["train"])
val = train._twin_examples(
    den.encoder, den.normalizer, den.unet.config, train._twin(100000, 64, cfg, False)
)
fits = train.fitting_examples(cfg, den.encoder, den.normalizer, den.unet.config)
for _ in range(2):
    t = time.perf_counter()
    train.validate(den.unet, val, "cpu")
    v = time.perf_counter() - t
    t = time.perf_counter()
    train.fit_structure_gain(den.unet, fits, "cpu")
    f = time.perf_counter() - t
    print(f"validate 64: {v:.2f} s, fit 256: {f:.2f} s, fit / (validate x 4) = {f / (4 * v):.2f}")
