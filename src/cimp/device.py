"""Where models run."""

from __future__ import annotations

import torch


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """'auto' -> this process's GPU if there is one, else the CPU; anything else as given."""
    if choice != "auto":
        return torch.device(choice)
    return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
