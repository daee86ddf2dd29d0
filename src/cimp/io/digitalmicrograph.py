"""Gatan DigitalMicrograph `.dm3` / `.dm4` through rosettasciio.

The tags of an image live in `ImageList.TagGroup0.ImageTags` of its signal: DigiScan (sample
time in microseconds, rotation), Microscope Info (voltage, indicated magnification, probe
current in nA - 0 means unknown -, STEM camera length in mm, stage tilts in degrees).
"""

from __future__ import annotations

from pathlib import Path

from rsciio.digitalmicrograph import file_reader

from cimp.io import signals
from cimp.io.mapping import Rule, apply

SUFFIXES = (".dm3", ".dm4")

RULES = (
    Rule("dwell_time", ("DigiScan.Sample Time",), "us"),
    Rule("beam_current", ("Microscope Info.Probe Current (nA)",), "nA", note="0 = unknown"),
    Rule("beam_energy", ("Microscope Info.Voltage",), "V"),
    Rule("magnification", ("Microscope Info.Indicated Magnification",)),
    Rule("camera_length", ("Microscope Info.STEM Camera Length",), "mm"),
    Rule("stage_alpha", ("Microscope Info.Stage Position.Stage Alpha",), "deg"),
    Rule("stage_beta", ("Microscope Info.Stage Position.Stage Beta",), "deg"),
    Rule("scan_rotation", ("DigiScan.Rotation",), "deg"),
    Rule("instrument", ("Session Info.Microscope", "Microscope Info.Name")),
)
PREFIX = "ImageList.TagGroup0.ImageTags."


def read(path: str | Path) -> list:
    """Records of every image of a DM file (Skipped notes for spectra, plots, ...)."""
    found = signals.load(file_reader, path, "DigitalMicrograph")
    return signals.to_records(path, found, describe)


def describe(signal: dict) -> tuple[dict, dict]:
    tags = (
        signal.get("original_metadata", {})
        .get("ImageList", {})
        .get("TagGroup0", {})
        .get("ImageTags", {})
    )
    return apply(RULES, tags, prefix=PREFIX)
