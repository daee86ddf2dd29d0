"""The FiLM-conditioned U-Net: a denoised image, modulated by what the CIMP encoders say.

Every block is scaled and shifted per channel (FiLM) by the conditioning vector: the
CIMP embedding of the input image, the shift from the source settings' embedding to the
target's, and the log dose ratio. There is no normalisation layer: a per-sample norm would
make the output depend on the tile it was computed in, and batch norm on the batch. Without
one, an activation that is flat below zero (SiLU, ReLU) can let whole levels die; a leaky
ReLU always passes some gradient, so a level can come back.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cimp.denoise.wiener import INPUTS
from cimp.errors import CimpError


@dataclass
class UNetConfig:
    """Everything needed to rebuild the U-Net (saved as JSON beside its weights)."""

    cond_dim: int
    widths: list[int]
    hidden: int = 128  # width of the conditioning MLP
    inputs: int = INPUTS  # the stabilised image and its three Fourier guides (`wiener`)

    @property
    def multiple(self) -> int:
        """Image sides must be a multiple of this (the 2x2 unshuffle, then one halving per
        level below the top)."""
        return 2 ** len(self.widths)

    def to_dict(self) -> dict:
        """As saved: with the choices this cimp makes where older ones could differ."""
        return asdict(self) | CHOICES

    @classmethod
    def saved(cls, values: dict) -> UNetConfig:
        """The config a DRUN saved. One that records an alternative this cimp no longer
        builds (benchmarks/FINDINGS.md: another head, added skips, the spectral filter,
        other guides, SiLU) is refused with what it records."""
        ours = CHOICES | {"inputs": INPUTS}
        recorded = {key: values.get(key, ABSENT[key]) for key in ours}
        alien = [f"{key} {value!r}" for key, value in recorded.items() if value != ours[key]]
        if alien:
            raise CimpError(
                f"a U-Net of {', '.join(alien)}, which this cimp no longer builds: "
                "train it again with `cimp train-denoiser`"
            )
        return cls(**{key: value for key, value in values.items() if key not in CHOICES})


# the choices a saved config records, as this cimp makes them; what a config that records
# none of a choice had: SiLU before the activation was recorded, no guide before `inputs`
CHOICES = {
    "activation": "leaky_relu",
    "guide_smoothing": 1,
    "weighed_means": False,
    "head": "residual",
    "skips": "cat",
    "spectral": False,
}
ABSENT = CHOICES | {"activation": "silu", "inputs": 1}
FINE_CHANNELS = 8  # channels of the last, full-resolution layer


def leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


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
        y = leaky(self.film(self.conv1(x), c))
        return leaky(self.conv2(y) + self.skip(x))


class FiLMUNet(nn.Module):
    """(variance-stabilised image and its Wiener guides around the image's mean,
    conditioning) -> the image's clean estimate: the image plus a correction.

    It works at half resolution on the four 2x2 sub-images (as FFDNet does, 4x less work)
    and back, with one last convolution at full resolution so that the 2x2 grid leaves no
    checkerboard at the Nyquist frequency.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        w, h = config.widths, config.hidden
        self.cond = nn.Sequential(nn.Linear(config.cond_dim, h), nn.SiLU(), nn.Linear(h, h))
        self.inp = nn.Conv2d(4 * config.inputs, w[0], 3, padding=1)
        self.down = nn.ModuleList(Block(a, b, h) for a, b in zip([w[0], *w[:-1]], w, strict=True))
        # a level's way up reads the level below, lifted, beside the way down's features
        pairs = list(itertools.pairwise(w))
        self.up = nn.ModuleList(Block(a + b, a, h) for a, b in pairs)
        self.lift = nn.ModuleList(nn.Conv2d(b, b, 1) for a, b in pairs)
        self.out = nn.Conv2d(w[0], 4 * FINE_CHANNELS, 3, padding=1)
        self.final = nn.Conv2d(FINE_CHANNELS, 1, 3, padding=1)  # the correction, at first 0
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
        return z[:, :1] + self.final(leaky(F.pixel_shuffle(self.out(x), 2)))


def reach(net: FiLMUNet, cond: torch.Tensor, size: int = 192, share: float = 0.999) -> int:
    """Radius (px) around an output pixel holding `share` of its sensitivity to the image,
    for conditioning `cond` (1, D) on a noise-like input: how far the trained net looks."""
    z = torch.randn(1, net.config.inputs, size, size, generator=torch.Generator().manual_seed(0))
    z.requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(net(z, cond)[0, 0, size // 2, size // 2], z)
    grad = grad[0].abs().sum(0)
    total, c = float(grad.sum()), size // 2
    for r in range(1, c):
        if float(grad[c - r : c + r + 1, c - r : c + r + 1].sum()) >= share * total:
            return r
    return c
