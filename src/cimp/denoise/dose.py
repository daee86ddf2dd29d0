"""What a change of dose does to a detector image, and the intensity view the U-Net works in.

Above the black level b (the output with no electrons), the expected counts are
proportional to the dose: an image whose clean version is c at the source dose reads
b + k (c - b) at k times the dose, the gain unchanged. That is the level; the detail
changes too (a larger current is a larger effective source, a longer dwell smears less
along the scan), so the U-Net finds c as the target settings would show it, at the
source's level, guided by the conditioning; k comes from the request and b from the
conditioning.
"""

from __future__ import annotations

import torch


def standardise(x: torch.Tensor, dims=(-2, -1)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x - mean) / std per image, with the mean and std (kept for the way back)."""
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True).clamp_min(1e-8)
    return (x - mean) / std, mean, std


def at_target(clean: torch.Tensor, black: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """The expected image at `ratio` times the dose: b + k (c - b), broadcast per image."""
    shape = (-1,) + (1,) * (clean.ndim - 1)
    black, ratio = black.reshape(shape), ratio.reshape(shape)
    return black + ratio * (clean - black)
