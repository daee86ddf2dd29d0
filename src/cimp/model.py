"""The joint model: an image encoder and a metadata encoder meeting in one embedding space."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cimp import physics
from cimp.config import ModelConfig
from cimp.errors import CimpError


class InputTransform(nn.Module):
    """Fixed, per-dataset (never per-image) view of the counts: linear and compressed.

    Counts arrive multiplied by the run's fixed intensity scale. The second channel,
    asinh(x / s) / asinh(1 / s), makes both single-electron events and near-saturation
    levels visible to the first layer.
    """

    def __init__(self, softness: float = 1e-3):
        super().__init__()
        self.softness = softness

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.softness
        return torch.cat([x, torch.asinh(x / s) / math.asinh(1.0 / s)], dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class CNNEncoder(nn.Module):
    """A small ResNet trained from scratch (the paper's best choice), optionally fused with
    the crop's physics statistics (`cimp.physics`, through a small MLP).

    Batch norm only: a per-sample norm (group, layer, instance) would erase absolute intensity.
    Pooling keeps the mean and the spread of the last features (noise lives in the spread).
    """

    def __init__(self, widths: list[int], out_dim: int, fuse_physics: bool = False):
        super().__init__()
        self.inputs = InputTransform()
        self.stem = nn.Sequential(
            nn.Conv2d(2, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        blocks, c = [], widths[0]
        for w in widths:
            blocks.append(ResidualBlock(c, w, stride=2))
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.physics = (
            nn.Sequential(
                nn.BatchNorm1d(physics.SIZE),  # across the batch: each statistic z-scored
                nn.Linear(physics.SIZE, 2 * c),
                nn.ReLU(),
                nn.Linear(2 * c, 2 * c),
                nn.ReLU(),
            )
            if fuse_physics
            else None
        )
        self.head = nn.Linear((4 if fuse_physics else 2) * c, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.stem(self.inputs(x)))
        parts = [y.mean(dim=(2, 3)), y.std(dim=(2, 3))]
        if self.physics is not None:
            parts.append(self.physics(physics.statistics(x)))
        return self.head(torch.cat(parts, dim=1))


class ViTEncoder(nn.Module):
    """A small vision transformer over non-overlapping patches of the crop."""

    def __init__(self, crop: int, patch: int, dim: int, depth: int, *, out_dim: int):
        super().__init__()
        self.inputs = InputTransform()
        self.patch = nn.Conv2d(2, dim, patch, patch)
        n = (crop // patch) ** 2
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        layer = nn.TransformerEncoderLayer(
            dim, max(dim // 64, 1), 4 * dim, 0.0, "gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)  # over features of a token: intensity enters before it
        self.head = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(self.inputs(x)).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.pos
        return self.head(self.norm(self.encoder(tokens)[:, 0]))


class MetadataEncoder(nn.Module):
    """FT-Transformer style: one token per field, a learned token where a field is missing."""

    def __init__(
        self, n_numeric: int, vocab_sizes: list[int], dim: int, layers: int, *, out_dim: int
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_numeric, dim) * 0.1)
        self.bias = nn.Parameter(torch.zeros(n_numeric, dim))
        self.missing = nn.Parameter(torch.randn(n_numeric, dim) * 0.02)
        self.embeddings = nn.ModuleList(nn.Embedding(v + 1, dim) for v in vocab_sizes)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        layer = nn.TransformerEncoderLayer(
            dim, 4, 2 * dim, 0.0, "gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_dim)

    def forward(self, values, present, categories=None) -> torch.Tensor:
        tokens = values[..., None] * self.weight + self.bias
        tokens = torch.where(present[..., None], tokens, self.missing.expand_as(tokens))
        parts = [self.cls.expand(len(values), -1, -1), tokens]
        if categories is not None and len(self.embeddings):
            parts.append(
                torch.stack([e(categories[:, i]) for i, e in enumerate(self.embeddings)], dim=1)
            )
        return self.head(self.norm(self.encoder(torch.cat(parts, dim=1))[:, 0]))


def image_encoder(config: ModelConfig, out_dim: int) -> nn.Module:
    if config.backbone == "cnn":
        return CNNEncoder(config.widths, out_dim, config.physics)
    if config.backbone == "vit":
        return ViTEncoder(
            config.crop, config.vit_patch, config.widths[-1], config.vit_depth, out_dim=out_dim
        )
    raise CimpError(f"unknown backbone {config.backbone!r}: use 'cnn' or 'vit'")


class CIMP(nn.Module):
    """Both encoders and the learnable temperature; embeddings are L2-normalised."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.image = image_encoder(config, config.embed_dim)
        self.meta = MetadataEncoder(
            len(config.fields),
            config.categorical,
            config.meta_dim,
            config.meta_layers,
            out_dim=config.embed_dim,
        )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.logit_bias = nn.Parameter(torch.tensor(-10.0))  # used by the SigLIP loss only

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(image), dim=-1)

    def encode_meta(self, values, present, categories=None) -> torch.Tensor:
        return F.normalize(self.meta(values, present, categories), dim=-1)

    def forward(self, batch):
        return (
            self.encode_image(batch.image),
            self.encode_meta(batch.values, batch.present, batch.categories),
        )
