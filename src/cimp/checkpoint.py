"""Weights and training state in safetensors, configuration in JSON (the files of a run
folder, `cimp.run`), each written whole or not at all."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cimp.atomic import atomic_write


def atomic_save(tensors: dict[str, torch.Tensor], path: Path, meta: dict | None = None):
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_write(path) as tmp:
        save_file(tensors, tmp, metadata={"json": json.dumps(meta or {})})


def file_id(path: Path) -> str:
    """A short hash of a file's bytes: what results made with these weights belong to."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def save_weights(model: nn.Module, path: Path) -> None:
    atomic_save(model.state_dict(), path)


def load_weights(model: nn.Module, path: Path) -> None:
    model.load_state_dict(load_file(path))


def save_state(path: Path, optimizer: torch.optim.Optimizer, step: int) -> None:
    """Optimizer moments (flattened to tensors), its hyper-parameters, step, torch RNG."""
    state = optimizer.state_dict()
    tensors = {"rng.torch": torch.get_rng_state()}
    scalars: dict[str, dict] = {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"opt.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    meta = {"step": step, "param_groups": state["param_groups"], "scalars": scalars}
    atomic_save(tensors, path, meta)


def load_state(path: Path, optimizer: torch.optim.Optimizer) -> int:
    """Restore what save_state wrote; returns the step to continue from."""
    tensors = load_file(path)
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        meta = json.loads(json.loads(f.read(header_len))["__metadata__"]["json"])
    slots: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        slots.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"])
