"""JEOL Analysis Station `.img` and `.map` files (electron images and EDS maps).

Element maps (a `.map` with an element number) count X-rays, not scattered electrons: they
are reported as skipped, with the element line in the reason; the electron images that
come as `.map` files (SEI, BF) are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rsciio.jeol import file_reader

from cimp.io import signals
from cimp.io.format import Format, Table
from cimp.io.mapping import Rule, apply

if TYPE_CHECKING:
    from cimp.io.record import Record
    from cimp.io.signals import Skipped

SUFFIXES = (".img", ".map")

RULES = (
    Rule("beam_energy", ("Instrument.AccV",), "kV"),
    Rule("magnification", ("Instrument.Mag",)),
    Rule("detector", ("Image.Title",)),
    Rule("instrument", ("Instrument.Name",)),
)


def read(path: str | Path) -> list[Record | Skipped]:
    """Records of a JEOL image file; an element map is one Skipped note."""
    found = signals.load(file_reader, path, "JEOL")
    out = []
    for index, signal in enumerate(found):
        tree = signal.get("original_metadata", {})
        if tree.get("Map", {}).get("ElementNo") is not None:  # MapType 2; 1 is SEI / BF
            title = tree["Map"].get("Title", "")
            out.append(signals.Skipped(f"signal {index}", f"an EDS element map ({title})"))
        else:
            out.extend(signals.to_records(path, [signal], metadata_of))
    return out


def metadata_of(signal: dict) -> tuple[dict, dict]:
    return apply(RULES, signal.get("original_metadata", {}))


FORMAT = Format(
    "jeol",
    "JEOL Analysis Station",
    SUFFIXES,
    read,
    (Table("JEOL", ".img .map", RULES, "original_metadata"),),
)
