"""Draw docs/simulator_fields.png: one row per recorded field, swept across its range.

Run: `make figures` (or `.venv/bin/python docs/make_field_figure.py`). Each row images one
scene with mid-range settings except the swept field, so what changes is that field's physics.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cimp import schema
from cimp.simulator import Settings, acquire, sample_scene
from cimp.simulator.scene import crystal_index

OUT = Path(__file__).with_name("simulator_fields.png")
COLUMNS = 5
MID = Settings(
    pixel_size=0.02,
    dwell_time=10.0,
    convergence_angle=22.0,
    beam_current=50.0,
    detector_gain=24.0,
    detector_offset=-2.0,
    inner_collection_angle=70.0,
    size=256,
)
FIXED_DISPLAY = {"detector_gain", "detector_offset"}  # show raw counts, so clipping shows


def sweep(name: str) -> np.ndarray:
    f = schema.field(name)
    lo, hi = f.typical
    if f.log:
        return np.geomspace(lo, hi, COLUMNS)
    return np.linspace(lo, hi, COLUMNS)


def scene_for(fov: float):
    """A SrTiO3 [001] wedge at a rough edge to vacuum, on amorphous carbon."""
    rng = np.random.default_rng(5)
    while True:
        scene = sample_scene(rng, fov)
        if scene.kind == "edge":
            break
    index = crystal_index("SrTiO3 [001]")
    matrix = replace(scene.matrix, crystal=index, thickness=25.0, tilt_mrad=1.0)
    edge = (0.6, 0.8, -0.25 * fov)
    return replace(scene, matrix=matrix, edge=edge, edge_slope=1.0, support_nm=8.0)


def main() -> None:
    fig, axes = plt.subplots(len(schema.CORE_NAMES), COLUMNS, figsize=(2.2 * COLUMNS, 15.5))
    rng = np.random.default_rng(0)
    for row, name in zip(axes, schema.CORE_NAMES, strict=True):
        unit = schema.field(name).unit
        for ax, value in zip(row, sweep(name), strict=True):
            s = replace(MID, **{name: float(value)})
            scene = scene_for(s.fov if name == "pixel_size" else MID.fov)
            image = acquire(scene, s, rng).image
            if name in FIXED_DISPLAY:
                lo, hi = 0, 65535
            else:
                lo, hi = np.percentile(image, [0.5, 99.5])
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{value:.3g} {unit}", fontsize=9)
        row[0].set_ylabel(name.replace("_", " "), fontsize=10)
    fig.suptitle(
        "cimp simulator: each row sweeps one recorded field, all others at mid-range\n"
        "SrTiO3 [001] wedge at an edge, on carbon. Gain and offset rows: raw 0-65535 scale;\n"
        "the others auto-contrasted as a microscope display would",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
