"""What cimp reads from a file: per image, each canonical field with its unit and source key,
the fields that are missing, and the signals that were left out (and why)."""

from __future__ import annotations

from pathlib import Path

from cimp import io, schema
from cimp.domain import origin


def inspect_file(path: str | Path) -> dict:
    """A JSON-ready description of one file; `error` holds the reason it cannot be read.

    Frames of a stack that share every setting are listed once, with their frame numbers.
    A large container is read one part at a time, so its images never all sit in memory.
    """
    out: dict = {"path": str(path), "images": [], "skipped": [], "error": None}
    try:
        for part in range(io.parts(path)):
            _describe(io.contents(path, part), out)
    except (io.UnreadableFile, OSError) as err:
        out["error"] = str(err) if isinstance(err, io.UnreadableFile) else f"cannot open: {err}"
    return out


def _describe(found: list, out: dict) -> None:
    """Add the entries of one part's records and skip notes to `out`."""
    for item in found:
        if isinstance(item, io.Skipped):
            out["skipped"].append({"what": item.what, "reason": item.reason})
            continue
        entry = _image_entry(item)
        last = out["images"][-1] if out["images"] else None
        if last and {**last, "frames": None} == {**entry, "frames": None}:
            last["frames"].extend(entry["frames"])
        else:
            out["images"].append(entry)


def _image_entry(record: io.Record) -> dict:
    fields = {}
    for name, value in record.metadata.items():
        fields[name] = {
            "value": value,
            "unit": schema.field(name).unit,
            "from": record.provenance.get(name, ""),
        }
    ignored = {
        name: note
        for name, note in record.provenance.items()
        if name not in record.metadata and "ignored" in note
    }
    return {
        "frames": [record.frame],
        "origin": origin(record.extra),
        "signal": record.extra.get("signal", ""),
        "shape": list(record.image.shape),
        "dtype": str(record.image.dtype),
        "session": record.session,
        "fields": fields,
        "ignored": ignored,
        "missing_core": [n for n in schema.CORE_NAMES if n not in record.metadata],
        "missing": [n for n in schema.BY_NAME if n not in record.metadata],
    }
