"""HyperSpy files (`.hspy`, older `.hdf5`) through rosettasciio.

The simulator's own files and those cimp writes are read by `cimp.io.simulated`'s rules
(canonical settings in `original_metadata`); a HyperSpy file from elsewhere
gives what HyperSpy's metadata conventions record (`Acquisition_instrument.TEM` or `.SEM`)
besides its axes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rsciio.hspy import file_reader

from cimp.io import signals, simulated
from cimp.io.format import Format, Table
from cimp.io.mapping import Rule, apply

if TYPE_CHECKING:
    from cimp.io.record import Record
    from cimp.io.signals import Skipped

SUFFIXES = (".hspy", ".hdf5", ".h5")
DERIVED_ROOT = "cimp"  # images cimp wrote (dose transfer): canonical settings in this tree
_TEM = "Acquisition_instrument.TEM."
_SEM = "Acquisition_instrument.SEM."

RULES = (
    Rule("dwell_time", (_TEM + "dwell_time", _SEM + "dwell_time"), "s"),
    Rule("convergence_angle", (_TEM + "convergence_angle",), "mrad"),
    Rule("beam_current", (_TEM + "beam_current", _SEM + "beam_current"), "nA"),
    Rule("beam_energy", (_TEM + "beam_energy", _SEM + "beam_energy"), "kV"),
    Rule("magnification", (_TEM + "magnification", _SEM + "magnification")),
    Rule("camera_length", (_TEM + "camera_length",), "mm"),
    Rule("stage_alpha", (_TEM + "Stage.tilt_alpha", _SEM + "Stage.tilt"), "deg"),
    Rule("stage_beta", (_TEM + "Stage.tilt_beta",), "deg"),
    Rule("instrument", (_TEM + "microscope", _SEM + "microscope")),
)


def read(path: str | Path) -> list[Record | Skipped]:
    """Records of every image signal of a HyperSpy file."""
    found = signals.load(file_reader, path, "HyperSpy")
    for root in (simulated.ROOT, DERIVED_ROOT):
        if any(root in signal.get("original_metadata", {}) for signal in found):
            return [simulated.record(path, i, signal, root) for i, signal in enumerate(found)]
    return signals.to_records(path, found, metadata_of)


def metadata_of(signal: dict) -> tuple[dict, dict]:
    return apply(RULES, signal.get("metadata", {}), prefix="metadata.")


FORMAT = Format(
    "hyperspy",
    "HyperSpy",
    SUFFIXES,
    read,
    (Table("HyperSpy", ".hspy .hdf5", RULES, "HyperSpy metadata"), simulated.TABLE),
)
