"""Where models run, and in what precision."""

from __future__ import annotations

import torch


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """'auto' -> this process's GPU if there is one, else the CPU; anything else as given."""
    if choice != "auto":
        return torch.device(choice)
    return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")


def bf16_native(device: torch.device) -> bool:
    """Whether `device` computes in bfloat16 natively: a CUDA GPU that has it, a CPU with
    AVX512-BF16 or AMX. Elsewhere bfloat16 is emulated, slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return False


def bf16_autocast(device: torch.device, wanted: bool = True) -> torch.autocast:
    """Autocast to bfloat16 where `wanted` and `device` computes it natively (`bf16_native`),
    float32 (disabled autocast) elsewhere."""
    enabled = wanted and bf16_native(device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
