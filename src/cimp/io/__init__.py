"""Readers: path -> records (image + canonical metadata + provenance), one module per format.

`contents(path)` gives every record and a `Skipped` note for each signal that is not an
image (spectra, diffraction, 4D-STEM, ...); `read(path)` gives the records alone and raises
`UnreadableFile` with the reasons when there are none. Containers too large to read at once
(the CIMP HDF5 layout) come in `parts(path)` parts, read one at a time with `part=`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cimp.io import cimp_hdf5, digitalmicrograph, emd, export, hspy, jeol, tia, tiff
from cimp.io.record import Record, UnreadableFile
from cimp.io.signals import Skipped

Reader = Callable[[Path], list]

FORMATS: dict[str, tuple[str, tuple[str, ...], Reader]] = {
    "velox-ncem-emd": ("Velox / NCEM EMD", emd.SUFFIXES, emd.read),
    "digitalmicrograph": (
        "Gatan DigitalMicrograph",
        digitalmicrograph.SUFFIXES,
        digitalmicrograph.read,
    ),
    "tia": ("FEI TIA", tia.SUFFIXES, tia.read),
    "jeol": ("JEOL Analysis Station", jeol.SUFFIXES, jeol.read),
    "tiff": ("TIFF", tiff.SUFFIXES, tiff.read),
    "hyperspy": ("HyperSpy / CIMP HDF5", hspy.SUFFIXES, hspy.read),
    "export": ("Image export (no metadata)", export.SUFFIXES, export.read),
}
READERS: dict[str, Reader] = {
    suffix: reader for _, suffixes, reader in FORMATS.values() for suffix in suffixes
}


def contents(path: str | Path, part: int = 0) -> list[Record | Skipped]:
    """Every record of a file (of one part of it) and a note for each signal left out."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise UnreadableFile("broken symbolic link (or a link loop)")
    if path.is_dir():
        raise UnreadableFile("a folder, not a file")
    if path.suffix.lower() in (".h5", ".hdf5") and cimp_hdf5.is_cimp_layout(path):
        return cimp_hdf5.read(path, part)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(f"no reader for {path.suffix or 'files without a suffix'}")
    if path.stat().st_size == 0:
        raise UnreadableFile("empty file (0 bytes)")
    return reader(path)


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
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5") and cimp_hdf5.is_cimp_layout(path):
        return cimp_hdf5.parts(path)
    return 1


__all__ = ["FORMATS", "READERS", "Record", "Skipped", "UnreadableFile", "contents", "parts", "read"]
