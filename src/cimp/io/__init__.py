"""Readers: path -> records (image + canonical metadata + provenance), one module per format.

`contents(path)` gives every record and a `Skipped` note for each signal that is not an
image (spectra, diffraction, 4D-STEM, ...); `read(path)` gives the records alone and raises
`UnreadableFile` with the reasons when there are none. Containers too large to read at once
(the CIMP HDF5 layout) come in `parts(path)` parts, read one at a time with `part=`.
"""

from __future__ import annotations

from pathlib import Path

from cimp.io import cimp_hdf5, digitalmicrograph, emd, export, hspy, jeol, tia, tiff
from cimp.io.format import Format
from cimp.io.record import Record, UnreadableFile
from cimp.io.signals import Skipped

# every reader module declares its FORMAT; the order is the docs' (formats.md)
FORMATS: tuple[Format, ...] = tuple(
    m.FORMAT for m in (emd, digitalmicrograph, tia, jeol, tiff, hspy, cimp_hdf5, export)
)
BY_SUFFIX: dict[str, Format] = {s: f for f in FORMATS for s in f.suffixes}


def format_of(path: Path) -> Format | None:
    """The format that claims the file (a sniff first, then the suffix), if any."""
    sniffed = [f for f in FORMATS if f.sniff is not None and f.sniff(path)]
    return sniffed[0] if sniffed else BY_SUFFIX.get(path.suffix.lower())


def contents(path: str | Path, part: int = 0) -> list[Record | Skipped]:
    """Every record of a file (of one part of it) and a note for each signal left out."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise UnreadableFile("broken symbolic link (or a link loop)")
    if path.is_dir():
        raise UnreadableFile("a folder, not a file")
    found = format_of(path)
    if found is None:
        raise UnreadableFile(f"no reader for {path.suffix or 'files without a suffix'}")
    if path.stat().st_size == 0:
        raise UnreadableFile("empty file (0 bytes)")
    return found.read(path, part) if found.parts else found.read(path)


def read(path: str | Path, part: int = 0) -> list[Record]:
    """Every image of a file as records; UnreadableFile with the reasons if there is none."""
    found = contents(path, part)
    records = [r for r in found if isinstance(r, Record)]
    if not records:
        reasons = sorted({s.reason for s in found if isinstance(s, Skipped)})
        raise UnreadableFile("; ".join(reasons) if reasons else "the file holds no image")
    return records


def parts(path: str | Path) -> int:
    """How many parts `read` takes for this file (1 but for very large containers)."""
    found = format_of(Path(path))
    return found.parts(Path(path)) if found is not None and found.parts else 1


__all__ = ["FORMATS", "Format", "Record", "Skipped", "UnreadableFile", "contents", "parts", "read"]
