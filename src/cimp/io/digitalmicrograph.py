"""Gatan DigitalMicrograph `.dm3` / `.dm4` through rosettasciio.

The tags of an image live in `ImageList.TagGroup0.ImageTags` of its signal: DigiScan (sample
time in microseconds, rotation), Microscope Info (voltage, indicated magnification, probe
current in nA - 0 means unknown -, STEM camera length in mm, stage tilts in degrees) and
DataBar (acquisition time: a Windows FILETIME in UTC, and the date and time as text in the
acquiring PC's locale: 27.08.2016, 27/08/2016, 12/10/2019 3:32:41 PM, 08:55:59 p.m.).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rsciio.digitalmicrograph import file_reader

from cimp.io import signals
from cimp.io.format import Format, Table
from cimp.io.mapping import Rule, apply

if TYPE_CHECKING:
    from cimp.io.record import Record
    from cimp.io.signals import Skipped

SUFFIXES = (".dm3", ".dm4")

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_DATES = ("%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%Y/%m/%d", "%d-%m-%Y")
_TIMES = ("%H:%M:%S", "%I:%M:%S %p", "%H:%M", "%I:%M %p")


def acquisition_time(value) -> tuple[str, None]:
    """ISO 8601 from DataBar: its FILETIME (100 ns ticks since 1601, UTC), or its date and
    time strings in any locale DM writes; a date that reads two ways is refused."""
    if not isinstance(value, dict):
        ticks = float(value)
        if ticks <= 0:
            raise ValueError("no time stamp")
        return (_FILETIME_EPOCH + timedelta(microseconds=ticks / 10)).isoformat(), None
    date, time = str(value.get("Acquisition Date", "")), str(value.get("Acquisition Time", ""))
    clock = re.sub(r"\b([ap])\.?\s*m\.?", r"\1m", time.strip().lower())
    days = {d for f in _DATES if (d := _parse(date.strip(), f, datetime.date)) is not None}
    times = [t for f in _TIMES if (t := _parse(clock.upper(), f, datetime.time)) is not None]
    if len(days) != 1 or not times:
        why = "reads as more than one date" if len(days) > 1 else "not a date and time"
        raise ValueError(f"{date} {time}: {why}")
    return datetime.combine(days.pop(), times[0]).isoformat(), None


def _parse(text: str, fmt: str, part):
    try:
        return part(datetime.strptime(text, fmt))
    except ValueError:
        return None


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
    Rule("detector", ("QuickSaved.Temp-Tags.Detector", "DigiScan.Signal Name", "Detector.Name")),
    Rule(
        "acquisition_time",
        ("DataBar.Acquisition Time (OS)", "DataBar"),
        parse=acquisition_time,
        note="FILETIME (UTC), else the locale's date and time text",
    ),
)
PREFIX = "ImageList.TagGroup0.ImageTags."


def read(path: str | Path) -> list[Record | Skipped]:
    """Records of every image of a DM file (Skipped notes for spectra, plots, ...)."""
    found = signals.load(file_reader, path, "DigitalMicrograph")
    return signals.to_records(path, found, metadata_of)


def metadata_of(signal: dict) -> tuple[dict, dict]:
    tags = (
        signal.get("original_metadata", {})
        .get("ImageList", {})
        .get("TagGroup0", {})
        .get("ImageTags", {})
    )
    return apply(RULES, tags, prefix=PREFIX)


FORMAT = Format(
    "digitalmicrograph",
    "Gatan DigitalMicrograph",
    SUFFIXES,
    read,
    (Table("DigitalMicrograph", ".dm3 .dm4", RULES, PREFIX),),
)
