"""Writing an image with its canonical settings: HyperSpy `.hspy` (rosettasciio) or TIFF.

The settings go in `original_metadata.<root>.acquisition` with their units, as the
simulator writes its own, so that cimp reads every field back; HyperSpy's own metadata
gets the pixel size (axes) and the beam energy. A TIFF is written as 32-bit floats with the
same tree as JSON in its ImageDescription.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile
from rsciio.hspy import file_writer

import cimp
from cimp import schema
from cimp.atomic import atomic_write

HSPY_SUFFIXES = (".hspy",)
TIFF_SUFFIXES = (".tif", ".tiff")


def settings_tree(settings: dict, **extra) -> dict:
    """{'acquisition': settings, 'units': their canonical units, **extra}."""
    acquisition = {k: v for k, v in settings.items() if k in schema.BY_NAME and v is not None}
    units = {name: schema.field(name).unit for name in acquisition}
    return {"acquisition": acquisition, "units": units, **extra}


def hspy_signal(image: np.ndarray, settings: dict, root: str, branch: dict, *, title: str) -> dict:
    """The rosettasciio signal dictionary of one image; `branch` = `settings_tree(...)`."""
    pixel = settings.get("pixel_size")
    axes = [
        {
            "name": name,
            "scale": 1.0 if pixel is None else float(pixel),
            "offset": 0.0,
            "units": "<undefined>" if pixel is None else "nm",
            "size": size,
            "navigate": False,
        }
        for name, size in zip(("y", "x"), image.shape, strict=True)
    ]
    tem = {"beam_energy": settings["beam_energy"]} if settings.get("beam_energy") else {}
    return {
        "data": image,
        "axes": axes,
        "metadata": {
            "General": {"title": title},
            "Signal": {"signal_type": "", "quantity": "Intensity (counts)"},
            "Acquisition_instrument": {"TEM": tem},
        },
        "original_metadata": {root: branch},
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "package_info": {"name": "cimp", "version": cimp.__version__},
        "learning_results": {},
        "models": {},
    }


def write_hspy(path: str | Path, signal: dict) -> None:
    """Write atomically (a killed write leaves no half file under the final name)."""
    with atomic_write(path) as tmp:
        file_writer(str(tmp), signal, show_progressbar=False)


def write_tiff(path: str | Path, image: np.ndarray, root: str, branch: dict) -> None:
    """32-bit float TIFF, the settings tree as JSON in its description."""
    description = json.dumps({root: branch}, default=float)
    with atomic_write(path) as tmp:
        tifffile.imwrite(tmp, image.astype(np.float32), description=description, metadata=None)
