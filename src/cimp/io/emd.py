"""EMD files through rosettasciio: Thermo Fisher / FEI Velox, and NCEM (Berkeley) EMD.

Velox values are strings in SI units. A file lists every detector of the microscope; the
one that made an image is `BinaryResult.DetectorIndex`, and its gain, offset and collection
angles are read from that entry (exposed to the rules as `Detector`). NCEM files carry no
acquisition settings cimp knows: their images come with the axes' pixel size alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
from rsciio.emd import file_reader

from cimp.io import signals
from cimp.io.format import Format, Table
from cimp.io.mapping import Rule, apply
from cimp.io.record import UnreadableFile

if TYPE_CHECKING:
    from cimp.io.record import Record
    from cimp.io.signals import Skipped

SUFFIXES = (".emd",)
SPECTRA = {
    "SpectrumImage": "an EDS spectrum image",
    "SpectrumStream": "an EDS spectrum stream (every X-ray event)",
    "Spectrum": "an EDS spectrum",
}


def _instrument(tree: dict) -> tuple[str, None]:
    name = " ".join(str(tree.get(k, "")) for k in ("InstrumentClass", "InstrumentId")).strip()
    if not name:
        raise ValueError("no instrument name")
    return name, None


def _epoch(value: str) -> tuple[str, None]:
    seconds = int(value)
    if seconds <= 0:
        raise ValueError("no time stamp")
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(), None


VELOX = (
    Rule("pixel_size", ("BinaryResult.PixelSize.width",), "m"),
    Rule("dwell_time", ("Scan.DwellTime",), "s"),
    Rule("convergence_angle", ("Optics.BeamConvergence",), "rad"),
    Rule(
        "beam_current",
        ("Optics.ProbeCurrent", "Optics.ScreenCurrent", "Optics.LastMeasuredScreenCurrent"),
        "A",
        note="the first that is not 0",
    ),
    Rule("detector_gain", ("Detector.Gain",), note="entry of the image's detector"),
    Rule("detector_offset", ("Detector.Offset",), note="entry of the image's detector"),
    Rule(
        "inner_collection_angle",
        ("Detector.CollectionAngleRange.begin",),
        "rad",
        note="of the image's detector; 0..0 means not calibrated",
    ),
    Rule("outer_collection_angle", ("Detector.CollectionAngleRange.end",), "rad"),
    Rule("beam_energy", ("Optics.AccelerationVoltage",), "V"),
    Rule(
        "magnification",
        ("CustomProperties.StemMagnification.value", "Optics.NominalMagnification"),
    ),
    Rule("camera_length", ("Optics.CameraLength",), "m"),
    Rule("stage_alpha", ("Stage.AlphaTilt",), "rad"),
    Rule("stage_beta", ("Stage.BetaTilt",), "rad"),
    Rule("defocus", ("Optics.Defocus",), "m"),
    Rule("scan_rotation", ("Scan.ScanRotation",), "rad"),
    Rule("detector", ("BinaryResult.Detector",)),
    Rule("instrument", ("Instrument",), parse=_instrument, note="InstrumentClass + InstrumentId"),
    Rule("acquisition_time", ("Acquisition.AcquisitionStartDatetime.DateTime",), parse=_epoch),
)


def read(path: str | Path) -> list[Record | Skipped]:
    """Records of every image signal of an EMD file (Skipped notes for the rest, the
    Velox spectra among them: they are listed, never loaded)."""
    try:
        found = signals.load(file_reader, path, "EMD", select_type="images")
    except UnreadableFile as err:
        if "no data found" in str(err):  # only spectra: not loaded with select_type="images"
            raise UnreadableFile("no image in this EMD file (spectra only)") from None
        raise
    return signals.to_records(path, found, metadata_of) + velox_spectra(path)


def velox_spectra(path: str | Path) -> list[signals.Skipped]:
    """A note for each spectral dataset of a Velox file (EDS), which is not an image."""
    try:
        with h5py.File(path, "r") as f:
            data = f.get("Data")
            groups = {k: len(data[k]) for k in SPECTRA if data is not None and k in data}
    except (OSError, TypeError):
        return []
    return [
        signals.Skipped(f"{kind} {i}", f"{SPECTRA[kind]}, not an image")
        for kind, n in groups.items()
        for i in range(n)
    ]


def metadata_of(signal: dict) -> tuple[dict, dict]:
    tree = signal.get("original_metadata", {})
    if "BinaryResult" not in tree and "Optics" not in tree:  # NCEM: the axes say it all
        return {}, {}
    metadata, provenance = apply(VELOX, {**tree, "Detector": _detector(tree)})
    if metadata.get("outer_collection_angle", 1.0) <= 0:  # Velox's 0..0: never calibrated
        for name in ("inner_collection_angle", "outer_collection_angle"):
            metadata.pop(name, None)
            provenance[name] += " (ignored: range 0..0 means not calibrated)"
    return metadata, provenance


def _detector(tree: dict) -> dict:
    """The detector entry of the image's own detector (not the first one listed)."""
    if tree.get("DetectorMetadata"):
        return tree["DetectorMetadata"]
    index = tree.get("BinaryResult", {}).get("DetectorIndex")
    return tree.get("Detectors", {}).get(f"Detector-{index}", {})


FORMAT = Format(
    "velox-ncem-emd",
    "Velox / NCEM EMD",
    SUFFIXES,
    read,
    (
        Table("Velox EMD", ".emd", VELOX, "original_metadata; Detector = the image's own entry"),
        Table("NCEM EMD", ".emd", (), "axes only"),
    ),
)
