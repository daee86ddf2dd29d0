"""The FiLM-conditioned U-Net: a denoised image, modulated by what the CIMP encoders say.

Every block is scaled and shifted per channel (FiLM) by the conditioning vector: the
CIMP embedding of the input image, the shift from the source settings' embedding to the
target's, and the log dose ratio. There is no normalisation layer: a per-sample norm would
make the output depend on the tile it was computed in, and batch norm on the batch.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class UNetConfig:
    """Everything needed to rebuild the U-Net (saved as JSON beside its weights)."""

    cond_dim: int
    widths: list[int] = field(default_factory=lambda: [24, 48, 96])
    hidden: int = 128  # width of the conditioning MLP
    inputs: int = 2  # the stabilised image and its Fourier guide (`wiener`)

    @property
    def multiple(self) -> int:
        """Image sides must be a multiple of this (the 2x2 unshuffle, then one halving per
        level below the top)."""
        return 2 ** len(self.widths)

    def to_dict(self) -> dict:
        return asdict(self)


FINE_CHANNELS = 8  # channels of the last, full-resolution layer


class FiLM(nn.Module):
    """(1 + gamma) * x + beta per channel; starts as the identity."""

    def __init__(self, cond: int, channels: int):
        super().__init__()
        self.proj = nn.Linear(cond, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(c)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + gamma) + beta


class Block(nn.Module):
    """Two 3x3 convolutions with a FiLM between them, and a residual path."""

    def __init__(self, c_in: int, c_out: int, cond: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.film = FiLM(cond, c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        y = F.silu(self.film(self.conv1(x), c))
        return F.silu(self.conv2(y) + self.skip(x))


class FiLMUNet(nn.Module):
    """(variance-stabilised image and its Wiener guide around the image's mean,
    conditioning) -> the image's clean estimate.

    The image path is residual: the net predicts the correction to the image, working at half
    resolution on the four 2x2 sub-images (as FFDNet does, 4x less work) and back, with one
    last convolution at full resolution so that the 2x2 grid leaves no checkerboard (it did,
    at the Nyquist frequency, without it).
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        w, h = config.widths, config.hidden
        self.cond = nn.Sequential(nn.Linear(config.cond_dim, h), nn.SiLU(), nn.Linear(h, h))
        self.inp = nn.Conv2d(4 * config.inputs, w[0], 3, padding=1)
        self.down = nn.ModuleList(Block(a, b, h) for a, b in zip([w[0], *w[:-1]], w, strict=True))
        self.up = nn.ModuleList(Block(a + b, a, h) for a, b in itertools.pairwise(w))
        self.lift = nn.ModuleList(nn.Conv2d(b, b, 1) for b in w[1:])
        self.out = nn.Conv2d(w[0], 4 * FINE_CHANNELS, 3, padding=1)
        self.final = nn.Conv2d(
            FINE_CHANNELS, 1, 3, padding=1
        )  # at full resolution: no checkerboard
        nn.init.zeros_(self.final.weight)
        nn.init.zeros_(self.final.bias)

    def condition(self, cond: torch.Tensor) -> torch.Tensor:
        return F.silu(self.cond(cond))

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Clean estimate (B, 1, H, W) of z's first channel; z (B, inputs, H, W), H and W
        multiples of `config.multiple`."""
        c = self.condition(cond)
        x = self.inp(F.pixel_unshuffle(z, 2))
        skips = []
        for i, block in enumerate(self.down):
            if i:
                skips.append(x)
                x = F.avg_pool2d(x, 2)
            x = block(x, c)
        for block, lift, skip in zip(
            reversed(self.up), reversed(self.lift), reversed(skips), strict=True
        ):
            x = F.interpolate(lift(x), scale_factor=2, mode="nearest")
            x = block(torch.cat([x, skip], dim=1), c)
        return z[:, :1] + self.final(F.silu(F.pixel_shuffle(self.out(x), 2)))
