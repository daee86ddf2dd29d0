"""TIFF through rosettasciio, with the vendor tags it parses: Thermo Fisher / FEI
(`fei_metadata`), Zeiss (`CZ_SEM`, values as (label, value, unit) tuples) and JEOL SightX
(`ImageDescription`). Other TIFFs (ImageJ, DigitalMicrograph exports) give their axes only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from rsciio.tiff import file_reader

from cimp.io import signals, simulated
from cimp.io.format import Format, Table
from cimp.io.hspy import DERIVED_ROOT
from cimp.io.mapping import Rule, apply

if TYPE_CHECKING:
    from cimp.io.record import Record
    from cimp.io.signals import Skipped

SUFFIXES = (".tif", ".tiff")


def _zeiss(item) -> tuple[object, str | None]:
    """('EHT', 5.0, 'kV') -> (5.0, 'kV'); ('Signal A', 'InLens') -> ('InLens', None)."""
    value = item[1]
    unit = item[2] if len(item) > 2 else None
    return value, {"°": "deg"}.get(unit, unit)


def _zeiss_magnification(item) -> tuple[float, None]:
    """('Mag', '50.00 K X') -> 50000."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KM]?)\s*X\s*", str(item[1]), re.IGNORECASE)
    if match is None:
        raise ValueError(f"unparsed magnification {item[1]!r}")
    scale = {"": 1.0, "K": 1e3, "M": 1e6}[match.group(2).upper()]
    return float(match.group(1)) * scale, None


FEI = (
    Rule("dwell_time", ("fei_metadata.Scan.Dwelltime",), "s"),
    Rule("beam_current", ("fei_metadata.EBeam.BeamCurrent",), "A"),
    Rule("beam_energy", ("fei_metadata.Beam.HV",), "V"),
    Rule("pixel_size", ("fei_metadata.Scan.PixelWidth",), "m"),
    Rule("stage_alpha", ("fei_metadata.Stage.StageT",), "rad"),
    Rule("scan_rotation", ("fei_metadata.Beam.ScanRotation",), "rad"),
    Rule("detector", ("fei_metadata.Detectors.Name",)),
    Rule("instrument", ("fei_metadata.System.SystemType",)),
)
ZEISS = (
    Rule("beam_energy", ("CZ_SEM.ap_actualkv",), parse=_zeiss),
    Rule("magnification", ("CZ_SEM.ap_mag",), parse=_zeiss_magnification),
    Rule("stage_alpha", ("CZ_SEM.ap_stage_at_t",), parse=_zeiss),
    Rule("detector", ("CZ_SEM.dp_detector_channel",), parse=_zeiss),
    Rule("instrument", ("CZ_SEM.sv_serial_number",), parse=_zeiss),
)
JEOL_SIGHTX = (
    Rule("beam_energy", ("ImageDescription.ElectronGun.AccelerationVoltage",), "V"),
    Rule("beam_current", ("ImageDescription.ElectronGun.BeamCurrent",), "pA"),
    Rule("stage_alpha", ("ImageDescription.GonioStage.StagePosition.TX",), "deg"),
    Rule("stage_beta", ("ImageDescription.GonioStage.StagePosition.TY",), "deg"),
    Rule("instrument", ("ImageDescription.Instruments",)),
)
RULES = FEI + ZEISS + JEOL_SIGHTX


def read(path: str | Path) -> list[Record | Skipped]:
    """Records of every image of a TIFF file (pages of a stack are frames); a TIFF that
    cimp wrote (a dose transfer) is read with its settings and marked as derived."""
    found = signals.load(file_reader, path, "TIFF")
    written = [_written_by_cimp(signal) for signal in found]
    if all(written):
        return [
            simulated.record(path, i, {**signal, "original_metadata": tree}, DERIVED_ROOT)
            for i, (signal, tree) in enumerate(zip(found, written, strict=True))
        ]
    return signals.to_records(path, found, metadata_of)


def _written_by_cimp(signal: dict) -> dict | None:
    """The settings tree cimp put in a TIFF's ImageDescription, or None."""
    description = signal.get("original_metadata", {}).get("ImageDescription")
    if not isinstance(description, str) or DERIVED_ROOT not in description:
        return None
    try:
        tree = json.loads(description)
    except ValueError:
        return None
    return tree if isinstance(tree, dict) and DERIVED_ROOT in tree else None


def metadata_of(signal: dict) -> tuple[dict, dict]:
    return apply(RULES, signal.get("original_metadata", {}))


FORMAT = Format(
    "tiff",
    "TIFF",
    SUFFIXES,
    read,
    (
        Table("TFS/FEI TIFF", ".tif", FEI, "original_metadata"),
        Table("Zeiss TIFF", ".tif", ZEISS, "original_metadata; (label, value, unit) tuples"),
        Table("JEOL SightX TIFF", ".tif", JEOL_SIGHTX, "original_metadata"),
    ),
)
