"""Plain image exports (PNG, JPEG, BMP) through Pillow: pixels only, no metadata.

A grey image saved as RGB (equal channels, as most viewers export) is read as grey; real
colour is left out. Exports usually have their contrast stretched to 8 bits, so the
absolute intensity that gain and offset live in is lost: `cimp predict` says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cimp.io.format import Format, Table
from cimp.io.record import Record, UnreadableFile
from cimp.io.signals import Skipped

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def read(path: str | Path) -> list[Record | Skipped]:
    """The image of an export file as one record with no metadata."""
    try:
        with Image.open(path) as opened:
            opened.load()
            image = np.asarray(opened.convert("I;16") if opened.mode == "I;16B" else opened)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UnreadableFile(f"not a readable image file ({err})") from None
    if image.ndim == 3:
        colour = image[..., :3]
        if not (np.array_equal(colour[..., 0], colour[..., 1])
                and np.array_equal(colour[..., 0], colour[..., 2])):  # fmt: skip
            return [Skipped("image", "colour (RGB) data, not a detector image")]
        image = colour[..., 0]
    extra = {"signal": "image export (no metadata)"}
    return [Record(np.ascontiguousarray(image), {}, {}, str(path), 0, str(path), extra)]


FORMAT = Format(
    "export",
    "Image export (no metadata)",
    SUFFIXES,
    read,
    (Table("Image export", ".png .jpg .bmp", core=lambda name: "-"),),
)
