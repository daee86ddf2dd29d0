"""What every reader returns: one image with its canonical metadata and their provenance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cimp import schema
from cimp.errors import CimpError

PLACEHOLDER_TEXTS = ("", "none", "null", "n/a", "na", "unknown", "undefined", "<undefined>")


class UnreadableFile(CimpError):
    """A file that cannot give any image; the message says why, for the ingest report."""


@dataclass
class Record:
    """One 2-D image, its metadata in canonical units, and where each value came from.

    `metadata` holds only the fields the file gave (a missing field is absent, not 0);
    `provenance[field]` names the original key and value, e.g. "Scan.DwellTime = 2e-06".
    `session` groups images that must land in the same split (a series, a scene).
    """

    image: np.ndarray
    metadata: dict[str, float | str]
    provenance: dict[str, str]
    source: str
    frame: int = 0
    session: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.ndim != 2:
            raise UnreadableFile(f"not a 2-D image (shape {self.image.shape})")
        if min(self.image.shape) < 2:
            raise UnreadableFile(f"image too small ({self.image.shape[0]}x{self.image.shape[1]})")
        if self.image.dtype.kind == "f" and not np.isfinite(self.image).any():
            raise UnreadableFile("image holds no finite value")
        if self.image.dtype.kind not in "uif":
            raise UnreadableFile(f"not a real-valued image (dtype {self.image.dtype})")
        lo, hi = np.nanmin(self.image), np.nanmax(self.image)
        if lo == hi:
            raise UnreadableFile(f"blank image (every pixel is {lo}): nothing to learn from")


def set_field(
    record_fields: dict, provenance: dict, name: str, raw, *, unit: str | None, key: str
) -> None:
    """Store one vendor value under its canonical field, converted to the canonical unit.

    Values outside the field's plausible range are left out (recorded in the provenance as
    ignored): a 0 pA "probe current" means unknown, not zero.
    """
    f = schema.field(name)
    shown = f"{key} = {raw} {unit or ''}".rstrip()
    if f.kind != schema.NUMERIC:
        if str(raw).strip().strip("[]{}()'\"").strip().lower() in PLACEHOLDER_TEXTS:
            provenance[name] = f"{shown} (ignored: an empty tag)"
            return
        record_fields[name] = str(raw).strip()
        provenance[name] = shown
        return
    value = schema.to_canonical(name, float(raw), unit)
    if not f.is_plausible(value):
        provenance[name] = f"{shown} (ignored: outside {f.plausible} {f.unit})"
        return
    record_fields[name] = value
    provenance[name] = shown
