"""The optimisation shared by every training loop (CIMP, the supervised baseline, the
denoiser): AdamW parameter groups and one learning-rate schedule."""

from __future__ import annotations

import math

import torch

MAX_WARMUP = 100


def warmup_steps(total: int) -> int:
    """The warm-up every loop uses unless told otherwise: a tenth of the run, at most 100."""
    return min(MAX_WARMUP, total // 10 + 1)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def set_lr(optimizer, peak: float, step: int, total: int, warmup: int | None = None) -> None:
    """Every group's learning rate at `step` (0-based) of `total`."""
    factor = lr_factor(step, warmup_steps(total) if warmup is None else warmup, total)
    for group in optimizer.param_groups:
        group["lr"] = peak * factor


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on 1-D parameters (biases, norms, temperature) or learned tokens."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        tokens = name.endswith(("cls", "pos", "missing"))
        (plain if p.ndim < 2 or tokens else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
