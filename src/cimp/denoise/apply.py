"""Dose transfer of whole images with a trained denoiser run (DRUN).

The image is standardised once (its mean and spread), embedded once (centre crop, as the
CIMP run embeds), the U-Net runs over it in tiles, and the physics of `dose.at_target`
takes the clean image to the target dose. The result is in the detector's counts at the
target settings, as 32-bit floats: it may exceed the source's integer range, but it is
never negative nor below the black level the denoiser read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cimp.checkpoint import file_id, load_weights
from cimp.data import crop_image
from cimp.denoise.condition import conditioning, metadata_shift, target_settings
from cimp.denoise.dose import at_target, standardise
from cimp.denoise.tiles import tiled
from cimp.denoise.unet import FiLMUNet, UNetConfig
from cimp.device import resolve_device
from cimp.errors import CimpError
from cimp.run import Run

RATIO_MARGIN = 1.5  # a ratio this far beyond the trained ones is named as such


@dataclass
class Transfer:
    """One re-rendered image and what was asked."""

    image: np.ndarray  # float32 counts at the target dose
    source: dict
    target: dict
    ratio: float  # target dose / source dose
    black: float  # the black level the denoiser read, in counts
    notes: list[str] = field(default_factory=list)  # out of domain, ratios not trained on


class Denoiser:
    """A trained DRUN: the U-Net and the frozen CIMP encoders it is conditioned on."""

    def __init__(self, drun: str | Path, device: str = "auto"):
        self.drun = Path(drun)
        if not (self.drun / "unet.safetensors").exists():
            raise CimpError(
                f"{self.drun} holds no trained denoiser (unet.safetensors); "
                "make one with `cimp train-denoiser`"
            )
        self.config = json.loads((self.drun / "config.json").read_text())
        self.device = resolve_device(device)
        run = Run(self.drun / "cimp")
        self.encoder, self.normalizer = run.load_model(self.device), run.normalizer
        self.unet = FiLMUNet(UNetConfig(**self.config["unet"]))
        load_weights(self.unet, self.drun / "unet.safetensors")
        self.unet.to(self.device).eval()
        self.weights = file_id(self.drun / "unet.safetensors")

    @property
    def crop(self) -> int:
        return self.encoder.config.crop

    @torch.no_grad()
    def transfer(
        self,
        image: np.ndarray,
        source: dict,
        changes: dict[str, str],
        tile: int = 512,
        show_progress: bool = False,
    ) -> Transfer:
        """`image` as if acquired with `changes` (e.g. {'dwell_time': 'x4'}) applied."""
        target, ratio = target_settings(source, changes)
        scale = self.encoder.config.intensity_scale
        x = image.astype(np.float32) * scale
        if not np.isfinite(x).all():
            x = np.where(np.isfinite(x), x, np.nanmean(x)).astype(np.float32)
        cond = self.condition(x, source, target, ratio)
        z, mean, std = standardise(torch.from_numpy(x))  # as in training, whole image
        unet, device = self.unet, self.device

        def run(tiles: torch.Tensor) -> torch.Tensor:
            return unet(tiles.to(device), cond.expand(len(tiles), -1))

        clean_z = tiled(
            run, z.numpy(), tile, multiple=unet.config.multiple, show_progress=show_progress
        )
        black_z = unet.black_level(cond, mean.to(device), std.to(device)).cpu()
        black = mean + std * black_z
        clean = torch.maximum(mean + std * torch.from_numpy(clean_z), black)  # no signal < 0
        out = at_target(clean[None], black.reshape(1), torch.tensor([ratio]))[0].numpy()
        out = np.clip(out / scale, 0.0, None)  # detector counts are never negative
        black = float(black)
        notes = self.notes(ratio)
        return Transfer(out.astype(np.float32), source, target, ratio, black / scale, notes)

    def notes(self, ratio: float) -> list[str]:
        """What the user should know about a transfer: a ratio beyond those trained on."""
        trained = self.config.get("pairs", {}).get("ratio_range")
        if trained and ratio > RATIO_MARGIN * trained[1]:
            return [
                f"x{ratio:.3g} dose lies beyond the x{trained[0]:.3g}-x{trained[1]:.3g} the "
                "denoiser was trained on: the output is an extrapolation"
            ]
        return []

    def condition(self, x: np.ndarray, source: dict, target: dict, ratio: float) -> torch.Tensor:
        """The conditioning vector of an image (model units) and its source and target."""
        if min(x.shape) < self.crop:
            raise CimpError(
                f"the image ({x.shape[0]} x {x.shape[1]}) is smaller than the {self.crop} px "
                "crop the CIMP encoder reads"
            )
        centre = torch.from_numpy(np.ascontiguousarray(crop_image(x, self.crop, None)))
        shift = metadata_shift(
            self.encoder, self.normalizer, pd.DataFrame([source]), pd.DataFrame([target])
        )
        return conditioning(self.encoder, centre[None, None].to(self.device), shift, [ratio])
