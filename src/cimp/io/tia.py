"""FEI TIA `.emi` / `.ser` through rosettasciio.

An `.emi` file holds the settings and names its `.ser` data files (`NAME_1.ser`, ...); a
`.ser` file beside its `.emi` is read through the `.emi`, a lone `.ser` by itself (axes
only). TIA's "dwell time" is a camera exposure in TEM mode, so it is kept only in STEM mode.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from rsciio.tia import file_reader

from cimp.io import signals
from cimp.io.format import Format, Table
from cimp.io.mapping import Rule, apply
from cimp.io.record import UnreadableFile

if TYPE_CHECKING:
    from cimp.io.record import Record
    from cimp.io.signals import Skipped

SUFFIXES = (".emi", ".ser")
_DESC = "ObjectInfo.ExperimentalDescription."
_DISPLAY = re.compile(rb"(?:Acquire|Search|Preview|Scan) ([A-Za-z0-9-]+) Scanning Display")

RULES = (
    Rule("dwell_time", ("ObjectInfo.AcquireInfo.DwellTimePath",), "s", note="STEM mode only"),
    Rule(
        "beam_energy",
        (
            _DESC + "High tension_kV",
            "ObjectInfo.ExperimentalConditions.MicroscopeConditions.AcceleratingVoltage",
        ),
        "kV",
    ),
    Rule("magnification", (_DESC + "Magnification_x",)),
    Rule("camera_length", (_DESC + "Camera length_m",), "m"),
    Rule("stage_alpha", (_DESC + "Stage A_deg",), "deg"),
    Rule("stage_beta", (_DESC + "Stage B_deg",), "deg"),
    Rule("defocus", (_DESC + "Defocus_um",), "um"),
    Rule("scan_rotation", (_DESC + "Stem rotation_deg",), "deg"),
    Rule(
        "detector",
        ("ObjectInfo.AcquireInfo.CameraNamePath", "ObjectInfo.DetectorName", "Display.Detector"),
        note="Display: the channel's name in the .emi (BF, DF4, HAADF)",
    ),
    Rule("instrument", (_DESC + "Microscope",)),
)


def read(path: str | Path) -> list[Record | Skipped]:
    """Records of the images of a TIA file (its series of frames are separate records)."""
    path = Path(path)
    if path.suffix.lower() == ".ser" and (emi := emi_of(path)) is not None:
        raise UnreadableFile(f"a .ser data file, read through its .emi ({emi.name})")
    found = signals.load(file_reader, path, "TIA")
    names = detector_names(path) if path.suffix.lower() == ".emi" else []
    if len(names) == len(found):  # simultaneous channels (BF, DF, HAADF), in .ser order
        for signal, name in zip(found, names, strict=True):
            signal.setdefault("metadata", {}).setdefault("General", {})["title"] = name
            signal.setdefault("original_metadata", {})["Display"] = {"Detector": name}
    return signals.to_records(path, found, metadata_of)


def detector_names(emi: Path) -> list[str]:
    """The detector of each channel, from TIA's display names in the .emi
    ("Acquire BF Scanning Display1", "Preview HAADF Scanning Display1")."""
    found = _DISPLAY.findall(emi.read_bytes())
    return [name.decode("ascii") for name in found]


def emi_of(ser: Path) -> Path | None:
    """The .emi file that owns a `NAME_N.ser` data file, if it is there."""
    match = re.fullmatch(r"(.+)_\d+", ser.stem)
    if match is None:
        return None
    for suffix in (".emi", ".EMI"):
        emi = ser.with_name(match.group(1) + suffix)
        if emi.exists():
            return emi
    return None


def metadata_of(signal: dict) -> tuple[dict, dict]:
    tree = signal.get("original_metadata", {})
    metadata, provenance = apply(RULES, tree)
    mode = str(tree.get("ObjectInfo", {}).get("ExperimentalDescription", {}).get("Mode", ""))
    if "dwell_time" in metadata and "STEM" not in mode.upper():
        del metadata["dwell_time"]
        provenance["dwell_time"] += f" (ignored: a camera exposure in mode {mode.strip()!r})"
    return metadata, provenance


FORMAT = Format(
    "tia", "FEI TIA", SUFFIXES, read, (Table("TIA", ".emi (.ser)", RULES, "original_metadata"),)
)
