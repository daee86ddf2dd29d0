"""The public CIMP dataset of arXiv:2604.24909: one HDF5 file holding every image.

    full_res            the images: one (N, H, W) dataset, or a group of N 2-D datasets
    metadata_raw        (N, 7) values as recorded        metadata   (N, 7) z-scored
    metadata_labels     (7,) field names                 stats_mean, stats_std (7,)
    filepaths           (N,) source file of each image   frame_indices (N,) its frame there

The file can hold thousands of 2048x2048 images, so it is read in parts of PART images
(`parts`, `read(path, part)`); ingest spreads the parts over its workers. Units are taken
from the labels ("pixel size (nm)") or else from the values' magnitude: SI as Velox writes
them, or the canonical display units; the choice is written into each value's provenance.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import h5py
import numpy as np

from cimp import schema
from cimp.io.format import Format, Table
from cimp.io.record import Record, UnreadableFile, set_field
from cimp.io.signals import Skipped

PART = 64
REQUIRED = ("full_res", "metadata_labels")
_SI = {"pixel_size": "m", "dwell_time": "s", "convergence_angle": "rad", "beam_current": "A",
       "inner_collection_angle": "rad"}  # fmt: skip
_WORDS = (
    ("pixel", "pixel_size"),
    ("dwell", "dwell_time"),
    ("convergence", "convergence_angle"),
    ("current", "beam_current"),
    ("gain", "detector_gain"),
    ("offset", "detector_offset"),
    ("inner", "inner_collection_angle"),
    ("collection", "inner_collection_angle"),
)


def is_cimp_layout(path: str | Path) -> bool:
    """True for an HDF5 file with the CIMP dataset's layout."""
    try:
        with h5py.File(path, "r") as f:
            return all(name in f for name in REQUIRED)
    except OSError:
        return False


def parts(path: str | Path) -> int:
    with h5py.File(path, "r") as f:
        return max(1, math.ceil(_count(f) / PART))


def read(path: str | Path, part: int = 0) -> list[Record | Skipped]:
    """Records of images [part * PART, (part + 1) * PART) of a CIMP HDF5 file."""
    try:
        with h5py.File(path, "r") as f:
            return _read(f, str(path), part)
    except (OSError, KeyError, ValueError) as err:
        reason = f"not a readable CIMP HDF5 file ({type(err).__name__}: {err})"
        raise UnreadableFile(reason) from err


def _read(f: h5py.File, source: str, part: int) -> list:
    n = _count(f)
    names = [field_of(label) for label in _strings(f["metadata_labels"])]
    if "metadata_raw" not in f:
        raise UnreadableFile("CIMP HDF5 file without metadata_raw: its values cannot be recovered")
    raw = np.asarray(f["metadata_raw"][()], dtype=np.float64)
    units = [
        unit_of(label, name, raw[:, j])
        for j, (label, name) in enumerate(zip(_strings(f["metadata_labels"]), names, strict=True))
    ]
    paths = _strings(f["filepaths"]) if "filepaths" in f else [source] * n
    frames = f["frame_indices"][:] if "frame_indices" in f else np.zeros(n, dtype=int)
    images = f["full_res"]
    keys = sorted(images, key=lambda s: (len(s), s)) if isinstance(images, h5py.Group) else None
    records: list[Record | Skipped] = []
    for i in range(part * PART, min(n, (part + 1) * PART)):
        image = images[keys[i]][()] if keys else images[i]
        metadata: dict = {}
        provenance: dict = {}
        for j, name in enumerate(names):
            if name is not None and np.isfinite(raw[i, j]):
                key = f"metadata_raw[{i}, {j}]"
                set_field(metadata, provenance, name, float(raw[i, j]), unit=units[j], key=key)
        extra = {"source_file": paths[i], "frame_in_source": str(int(frames[i]))}
        try:
            record = Record(image, metadata, provenance, source, i, f"{source}:{paths[i]}", extra)
        except UnreadableFile as err:
            records.append(Skipped(f"image {i} ({paths[i]}, frame {frames[i]})", str(err)))
            continue
        records.append(record)
    return records


def field_of(label: str) -> str | None:
    """Canonical field of a column label ("Beam current (pA)" -> beam_current), or None."""
    text = label.lower()
    for word, name in _WORDS:
        if word in text:
            return name
    return None


def unit_of(label: str, name: str | None, values: np.ndarray) -> str | None:
    """The unit a column is in: named in its label, or SI / canonical by its magnitude."""
    if name is None:
        return None
    canonical = schema.field(name).unit
    written = re.search(r"[(\[]\s*([^)\]]+?)\s*[)\]]", label)
    if written:
        return written.group(1)
    si = _SI.get(name)
    typical = schema.field(name).typical
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if si is None or typical is None or finite.size == 0:
        return canonical
    centre = math.log10(math.sqrt(typical[0] * typical[1]))
    median = math.log10(float(np.median(finite)))
    as_si = math.log10(schema.convert(1.0, si, canonical)) + median
    return si if abs(as_si - centre) < abs(median - centre) else canonical


def _count(f: h5py.File) -> int:
    images = f["full_res"]
    return len(images) if isinstance(images, h5py.Group) else images.shape[0]


def _strings(dataset) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in dataset[()]]


def _sniff(path: Path) -> bool:
    return path.suffix.lower() in (".h5", ".hdf5") and is_cimp_layout(path)


FORMAT = Format(
    "cimp-hdf5",
    "CIMP HDF5 layout",
    (),
    read,
    (
        Table(
            "CIMP HDF5 layout",
            ".h5 .hdf5",
            core=lambda name: f"`metadata_raw` column labelled '{name.replace('_', ' ')}'",
        ),
    ),
    sniff=_sniff,
    parts=parts,
)
