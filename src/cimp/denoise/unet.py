"""The FiLM-conditioned U-Net: a denoised image, modulated by what the CIMP encoders say.

Every block is scaled and shifted per channel (FiLM) by the conditioning vector: the
CIMP embedding of the input image, the shift from the source settings' embedding to the
target's, and the log dose ratio. There is no normalisation layer: a per-sample norm would
make the output depend on the tile it was computed in, and batch norm on the batch. Without
one, SiLU let whole levels die: a U-Net trained for 9,500 steps had pre-activations far below
zero all over its three lower levels, so its output saw only +-14 px of the image. A leaky
ReLU always passes some gradient, so a level can come back.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import get_args

import torch
import torch.nn.functional as F
from torch import nn

from cimp.config import Head, Skips


@dataclass
class UNetConfig:
    """Everything needed to rebuild the U-Net (saved as JSON beside its weights)."""

    cond_dim: int
    widths: list[int] = field(default_factory=lambda: [24, 48, 96])
    hidden: int = 128  # width of the conditioning MLP
    inputs: int = 3  # the stabilised image, its whole-image and local Fourier guides (`wiener`)
    activation: str = "leaky_relu"  # of the image path: a key of ACTIVATIONS
    guide_smoothing: int = 1  # of the whole-image guide's spectrum (`wiener.guide`)
    weighed_means: bool = False  # the local guides' window means (`wiener.local_guide`)
    head: str = "residual"  # what the net's last layer adds to: one of HEADS (`config.Head`)
    skips: str = "cat"  # how a level's way up takes the way down's features: one of SKIPS
    spectral: bool = False  # a learned Wiener filter of the top level's features (`Spectral`)

    @property
    def multiple(self) -> int:
        """Image sides must be a multiple of this (the 2x2 unshuffle, then one halving per
        level below the top)."""
        return 2 ** len(self.widths)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def saved(cls, values: dict) -> UNetConfig:
        """The config a DRUN saved (one that names no `activation` used SiLU, one that
        names no `head` the residual head)."""
        return cls(**{"activation": "silu", "head": "residual", **values})


FINE_CHANNELS = 8  # channels of the last, full-resolution layer
GATE_START = 3.0  # the gate head's logit at the start: 0.95 of the image's departure kept
ACTIVATIONS = {"silu": F.silu, "leaky_relu": lambda x: F.leaky_relu(x, 0.1)}
HEADS = get_args(Head)
SKIPS = get_args(Skips)


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


class Spectral(nn.Module):
    """A learned Wiener filter of a level's features over the whole tile; starts as the
    identity.

    Each channel's Fourier transform is scaled, frequency by frequency, by a gate in (0, 1)
    read from the log power of all channels at that frequency (and the conditioning): a
    lattice is a few sharp reflections that its repeats build up over the tile, noise is
    spread evenly, so the gate can keep a reflection that no 3x3 convolution, nor any window
    the U-Net sees, holds above the noise. The same weights serve every frequency, so it
    reads a tile of any size; but what it keeps depends on the tile, so an image cut into
    tiles (`tiles.tiled`) differs a little from one pass.
    """

    def __init__(self, channels: int, cond: int, activation: str):
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.read = nn.Conv2d(channels, channels, 1)
        self.film = FiLM(cond, channels)
        self.gate = nn.Conv2d(channels, channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(x.float(), norm="ortho")  # white unit noise: power 1
        power = torch.log1p(spectrum.real.square() + spectrum.imag.square())
        gate = torch.sigmoid(self.gate(self.act(self.film(self.read(power), c))).float())
        kept = torch.fft.irfft2(spectrum * gate, s=x.shape[-2:], norm="ortho")
        return x + self.proj(kept.to(x.dtype))


class Block(nn.Module):
    """Two 3x3 convolutions with a FiLM between them, and a residual path."""

    def __init__(self, c_in: int, c_out: int, cond: int, activation: str):
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.film = FiLM(cond, c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        y = self.act(self.film(self.conv1(x), c))
        return self.act(self.conv2(y) + self.skip(x))


class FiLMUNet(nn.Module):
    """(variance-stabilised image and its Wiener guides around the image's mean,
    conditioning) -> the image's clean estimate.

    The image path predicts a correction to the image (head "residual"), to a per-pixel
    weighted mean of the image and its guides (head "mix", the weights a softmax of the net's
    own; it starts as their plain mean) or to the image's departure from its mean level
    scaled per pixel by a gate in (0, 1) (head "gate": where the image holds nothing, the
    net need not cancel its noise to give a flat output; trained, the gate shuts almost
    everywhere, at 500 e/px too: the output is the mean level plus the correction, a direct
    estimate). It works at half resolution on the four 2x2 sub-images (as FFDNet does, 4x
    less work) and back, with one last convolution at full resolution so that the 2x2 grid
    leaves no checkerboard (it did, at the Nyquist frequency, without it). With `spectral`,
    the top level's features pass a learned Wiener filter over the whole tile on the way down.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        w, h, act = config.widths, config.hidden, config.activation
        if act not in ACTIVATIONS:
            raise ValueError(f"activation {act!r}: use one of {tuple(ACTIVATIONS)}")
        if config.head not in HEADS:
            raise ValueError(f"head {config.head!r}: use one of {HEADS}")
        if config.skips not in SKIPS:
            raise ValueError(f"skips {config.skips!r}: use one of {SKIPS}")
        self.act = ACTIVATIONS[act]
        self.cond = nn.Sequential(nn.Linear(config.cond_dim, h), nn.SiLU(), nn.Linear(h, h))
        self.inp = nn.Conv2d(4 * config.inputs, w[0], 3, padding=1)
        self.down = nn.ModuleList(
            Block(a, b, h, act) for a, b in zip([w[0], *w[:-1]], w, strict=True)
        )
        # a level's way up reads the level below, lifted, concatenated with (or added to:
        # cheaper steps) the way down's features at its level
        added = config.skips == "add"
        pairs = list(itertools.pairwise(w))
        self.up = nn.ModuleList(Block(a if added else a + b, a, h, act) for a, b in pairs)
        self.lift = nn.ModuleList(nn.Conv2d(b, a if added else b, 1) for a, b in pairs)
        self.spectral = Spectral(w[0], h, act) if config.spectral else None
        self.out = nn.Conv2d(w[0], 4 * FINE_CHANNELS, 3, padding=1)
        # at full resolution (no checkerboard): the correction, and with the mix head one
        # weight per input, with the gate head the gate's logit
        extra = {"mix": config.inputs, "gate": 1}.get(config.head, 0)
        self.final = nn.Conv2d(FINE_CHANNELS, 1 + extra, 3, padding=1)
        nn.init.zeros_(self.final.weight)
        nn.init.zeros_(self.final.bias)
        if config.head == "gate":
            nn.init.constant_(self.final.bias[1:], GATE_START)

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
            if not i and self.spectral is not None:
                x = self.spectral(x, c)
        for block, lift, skip in zip(
            reversed(self.up), reversed(self.lift), reversed(skips), strict=True
        ):
            x = F.interpolate(lift(x), scale_factor=2, mode="nearest")
            x = block(x + skip if self.config.skips == "add" else torch.cat([x, skip], dim=1), c)
        fine = self.final(self.act(F.pixel_shuffle(self.out(x), 2)))
        if self.config.head == "residual":
            return z[:, :1] + fine
        if self.config.head == "gate":  # z is centred on the image's mean (`render.correct`)
            return torch.sigmoid(fine[:, 1:].float()) * z[:, :1] + fine[:, :1]
        weights = torch.softmax(fine[:, 1:].float(), dim=1)  # starts as the plain mean
        return (weights * z).sum(dim=1, keepdim=True) + fine[:, :1]


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
