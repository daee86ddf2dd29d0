"""Reading the simulator's own files: HyperSpy `.hspy` (HDF5, through rosettasciio).

The image is the signal; the pixel size is the axes' scale; the acquisition settings live in
`original_metadata.cimp_simulation.acquisition` (values) and `.units`, like a vendor's tree,
with the generator's seed and index so any image can be regenerated exactly
(`cimp.simulator.files` writes them). Reading them needs no part of the simulator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimp import schema
from cimp.io.format import Table
from cimp.io.record import Record, set_field

ROOT = "cimp_simulation"


def record(path, index: int, signal: dict, root: str = ROOT) -> Record:
    """The record of one signal written by cimp (the simulator's by default): settings
    from its `root` tree, session = its scene; `extra["origin"]` says simulated, or derived
    (an image cimp re-rendered, which is no acquisition)."""
    image = np.asarray(signal["data"])
    metadata: dict[str, float | str] = {}
    provenance: dict[str, str] = {}
    branch = signal.get("original_metadata", {}).get(root, {})
    units = branch.get("units", {})
    for name, raw in branch.get("acquisition", {}).items():
        if name in schema.BY_NAME:
            key = f"{root}.acquisition.{name}"
            set_field(metadata, provenance, name, raw, unit=units.get(name) or None, key=key)
    axes = signal.get("axes", [])
    if len(axes) == 2 and axes[-1].get("units"):
        x = axes[-1]
        set_field(
            metadata, provenance, "pixel_size", x["scale"], unit=x["units"], key="axes[x].scale"
        )
    scene = branch.get("scene", {})
    session = str(scene.get("id") or f"{Path(path).name}")
    return Record(
        image,
        metadata,
        provenance,
        str(path),
        frame=index,
        session=session,
        extra={
            "scene": str(scene.get("matrix", "")),
            "origin": "simulated" if root == ROOT else "derived",
        },
    )


TABLE = Table(
    "cimp simulator",
    ".hspy",
    core=lambda name: f"`{ROOT}.acquisition.{name}` (unit in `.units`)",
)
