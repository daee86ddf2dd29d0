"""What a dose transfer is asked for, and the conditioning vector the U-Net reads.

A target changes dwell time and/or beam current, as a factor (`x4`) or as a value with
a unit (`20us`, `0.05nA`); everything else about the acquisition stays. The dose ratio
k = (dwell x current)_target / (dwell x current)_source is what the physics needs; the
CIMP embeddings of the image and of both settings, and the physics of the change (the
ratio, how much longer the dwell, the signal and noise floor in electrons), are what the
U-Net is modulated by.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import torch

from cimp import schema
from cimp.embeddings import embed_metadata
from cimp.errors import CimpError

DOSE_FIELDS = ("dwell_time", "beam_current")
_FACTOR = re.compile(r"^\s*[x×*]\s*([0-9.]+(?:[eE][-+]?\d+)?)\s*$")
_QUANTITY = re.compile(r"^\s*([0-9.]+(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


def target_settings(source: dict, changes: dict[str, str]) -> tuple[dict, float]:
    """The target settings and the dose ratio for `changes` such as {'dwell_time': 'x4'}.

    A factor works whether or not the source recorded the field; an absolute value needs
    the source's value to know the ratio. Only higher doses are allowed (ratio >= 1).
    """
    check_changes(changes)
    target, ratio = dict(source), 1.0
    for name, text in changes.items():
        factor = _FACTOR.match(text)
        known = source.get(name)
        known = None if known is None or pd.isna(known) else float(known)
        if factor:
            k = float(factor.group(1))
            if known is not None:
                target[name] = known * k
        else:
            value = _absolute(name, text)
            if known is None:
                raise CimpError(
                    f"{name}={text} needs the source's {name}, which the file does not record; "
                    f"give a factor instead, e.g. --{name.replace('_', '-')} x4"
                )
            k = value / known
            target[name] = value
        if not np.isfinite(k) or k <= 0:
            raise CimpError(f"{name}: {text!r} is not a positive factor or value")
        ratio *= k
    if ratio < 1.0:
        raise CimpError(f"the target dose is {ratio:.3g}x the source's: only higher doses")
    return target, ratio


def check_changes(changes: dict[str, str]) -> None:
    """Refuse a badly written change once, before any file is read."""
    for name, text in changes.items():
        if name not in DOSE_FIELDS:
            raise CimpError(f"a dose transfer changes {' or '.join(DOSE_FIELDS)}, not {name}")
        factor = _FACTOR.match(text)
        value = float(factor.group(1)) if factor else _absolute(name, text)
        if not np.isfinite(value) or value <= 0:
            raise CimpError(f"{name}: {text!r} is not a positive factor or value")


def _absolute(name: str, text: str) -> float:
    quantity = _QUANTITY.match(text)
    if quantity is None:
        raise CimpError(f"{name}: write a factor (x4) or a value with a unit (20us), not {text!r}")
    unit = quantity.group(2) or None
    try:
        return schema.to_canonical(name, float(quantity.group(1)), unit)
    except ValueError as err:
        raise CimpError(f"{name}: {text!r}: {err}") from None


def metadata_shift(model, normalizer, sources: list[dict], targets: list[dict]) -> np.ndarray:
    """(B, E) target-minus-source metadata embeddings of matching rows (one table, one
    encoder call)."""
    both = embed_metadata(model, normalizer, pd.DataFrame([*sources, *targets]))
    return both[len(sources) :] - both[: len(sources)]


PHYSICS = 4  # entries of `physics`


def physics(ratio: float, dwell_ratio: float, signal: float, floor: float) -> np.ndarray:
    """log10 of: the dose ratio, the dwell time's share of it, the image's mean signal and
    its noise floor (both in detected electrons per pixel)."""
    values = [ratio, dwell_ratio, max(signal, 1e-3), max(floor, 1e-6)]
    return np.log10(np.asarray(values, dtype=np.float32))


def condition_rows(encoder, normalizer, images, sources, *, targets, physics_rows, batch=64):
    """The conditioning of whole images (counts, each at least the encoder's crop) asked to
    go from `sources` to `targets` (metadata dicts), with their `physics` rows."""
    from cimp.data import crop_image

    scale, crop = encoder.config.intensity_scale, encoder.config.crop
    for image in images:
        if min(image.shape) < crop:
            raise CimpError(
                f"the image ({image.shape[0]} x {image.shape[1]}) is smaller than the {crop} px "
                "crop the CIMP encoder reads"
            )
    shift = metadata_shift(encoder, normalizer, sources, targets)
    device = next(encoder.parameters()).device
    rows = []
    for start in range(0, len(images), batch):
        centres = [
            crop_image(image.astype(np.float32) * np.float32(scale), crop, None)
            for image in images[start : start + batch]
        ]
        x = torch.from_numpy(np.stack(centres)[:, None].copy()).to(device)
        part = slice(start, start + batch)
        rows.append(conditioning(encoder, x, shift[part], np.asarray(physics_rows)[part]))
    return torch.cat(rows).cpu()


def conditioning(model, images: torch.Tensor, shift: np.ndarray, physics: np.ndarray):
    """(B, 2E + PHYSICS): image embedding, metadata shift and `physics` rows (no gradients).

    `images` (B, 1, crop, crop) in the model's input units.
    """
    with torch.no_grad():
        e_image = model.encode_image(images)
    extra = np.concatenate([shift, np.atleast_2d(physics)], axis=1).astype(np.float32)
    return torch.cat([e_image, torch.from_numpy(extra).to(e_image.device)], dim=1)
