"""The optimisation shared by every training loop (CIMP, the supervised baseline, the
denoiser): AdamW parameter groups and one learning-rate schedule."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

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


def set_lr(optimizer, peak: float, step: int, total: int, *, warmup: int | None = None) -> None:
    """Every group's learning rate at `step` (0-based) of `total`."""
    factor = lr_factor(step, warmup_steps(total) if warmup is None else warmup, total)
    for group in optimizer.param_groups:
        group["lr"] = peak * factor


class TimeBudget:
    """As many steps as fit in `seconds` of wall time from `start` (the work before the loop
    counts): planned after the warm-up from the loop's pace so far and planned again every
    REPLAN steps, so that the cosine decay ends when the time does, on any machine."""

    REPLAN = 50

    def __init__(
        self, seconds: float, start: float, clock: Callable[[], float] = time.perf_counter
    ):
        self.seconds, self.start, self.clock = seconds, start, clock

    def due(self, step: int, warmup: int) -> bool:
        """Whether the steps are planned (again) after `step` (1-based): every REPLAN steps
        from the warm-up's end, and at once when the time is up."""
        if self.clock() >= self.start + self.seconds:
            return True
        return step >= warmup and (step - warmup) % self.REPLAN == 0

    def total(self, step: int, loop_start: float, reserve: float = 0.0) -> int:
        """The steps that fit, `step` done since `loop_start`; `reserve` seconds kept for the
        work after the last step. Never fewer than `step`: an exhausted budget stops here."""
        now = self.clock()
        pace = (now - loop_start) / step
        left = self.start + self.seconds - reserve - now
        return step + max(int(left / pace), 0)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on 1-D parameters (biases, norms, temperature) or learned tokens."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        tokens = name.endswith(("cls", "pos", "missing"))
        (plain if p.ndim < 2 or tokens else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
