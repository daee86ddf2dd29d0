"""Readers: path -> records (image + canonical metadata + provenance), one module per source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cimp.io import simulated
from cimp.io.record import Record, UnreadableFile

Reader = Callable[[Path], list[Record]]

READERS: dict[str, Reader] = {suffix: simulated.read for suffix in simulated.SUFFIXES}


def read(path: str | Path) -> list[Record]:
    """Every image of a file as records; UnreadableFile with a reason if there is none."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(f"no reader for {path.suffix or 'files without a suffix'}")
    records = reader(path)
    if not records:
        raise UnreadableFile("the file holds no image")
    return records


__all__ = ["READERS", "Record", "UnreadableFile", "read"]
