"""rosettasciio signal dicts -> image records, or the reason a signal is not an image.

Shared by every vendor reader: which signals are 2-D images (single or frame stacks), the
pixel size from the calibrated axes, the acquisition time rosettasciio parsed, the session.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from cimp.io.record import Record, UnreadableFile, set_field

MetadataOf = Callable[[dict], tuple[dict, dict]]
ENERGY_UNITS = ("ev", "kev", "mev")
SPECTRAL_TYPES = ("EELS", "EDS", "CL", "PL", "XPS")


@dataclass
class Skipped:
    """A signal (or frame) of a file that gave no record, and why."""

    what: str
    reason: str


def load(file_reader: Callable, path: str | Path, kind: str, **options) -> list[dict]:
    """rosettasciio's signal dicts of a file, quietly; any failure becomes UnreadableFile,
    and so does a file in which the reader finds nothing."""
    logger = logging.getLogger("rsciio")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = file_reader(str(path), **options)
    except MemoryError:
        raise UnreadableFile(f"too large to read into memory as a {kind} file") from None
    except Exception as err:  # rosettasciio raises many kinds on a broken or foreign file
        message = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        raise UnreadableFile(f"not a readable {kind} file ({message})") from err
    finally:
        logger.setLevel(level)
    if not found:
        raise UnreadableFile(f"not a readable {kind} file (no data found in it)")
    return found


def to_records(path: str | Path, signals: Iterable[dict], metadata_of: MetadataOf) -> list:
    """Records (and Skipped notes) of every signal; `metadata_of` gives a signal's
    vendor metadata and provenance. Frames of a stack are separate records of one session."""
    out: list[Record | Skipped] = []
    frame = 0
    for index, signal in enumerate(signals):
        title = _title(signal, index)
        reason = not_an_image(signal)
        if reason:
            out.append(Skipped(title, reason))
            continue
        metadata, provenance = metadata_of(signal)
        _common_fields(signal, metadata, provenance)
        stack = frames(signal)
        session = session_of(path, metadata)
        for k, image in enumerate(stack):
            extra = {"signal": title} | ({"frame_of_stack": str(k)} if len(stack) > 1 else {})
            try:
                fields, origin = dict(metadata), dict(provenance)
                out.append(Record(image, fields, origin, str(path), frame, session, extra))
            except UnreadableFile as err:
                out.append(Skipped(f"{title} frame {k}" if len(stack) > 1 else title, str(err)))
            frame += 1
    return out


def not_an_image(signal: dict) -> str | None:
    """Why this signal is not a (stack of) 2-D image(s), or None if it is one."""
    data = signal["data"]
    if data.dtype.names is not None or data.dtype.kind == "V":
        return "colour (RGB) data, not a detector image"
    if data.dtype.kind == "c":
        return "complex data (an FFT, a DPC vector field, ...), not a detector image"
    kind = str(signal.get("metadata", {}).get("Signal", {}).get("signal_type") or "")
    spectral = _spectral_axis(signal)
    if spectral is None and kind.upper().startswith(SPECTRAL_TYPES) and data.ndim >= 3:
        spectral = f"{data.shape[0]} channels"  # a spectral type whose axes say nothing
    if spectral and data.ndim >= 2:
        return f"{kind or 'a'} spectrum image ({spectral}), not an image"
    nav, sig = _split_axes(signal)
    if len(sig) < 2:
        if not sig:
            return "a single value, not an image"
        return f"{'spectra' if nav else 'a spectrum or profile'} (1-D signal), not an image"
    if len(sig) > 2:
        return f"a {len(sig)}-D signal, not an image"
    units = " ".join(str(signal["axes"][i].get("units") or "") for i in sig)
    if "1 /" in units or "1/" in units:
        return "a diffraction pattern or FFT (reciprocal-space axes), not a real-space image"
    if len(nav) >= 2:
        return "4D-STEM or a map of images (a 2-D pattern at every scan position)"
    return None


def _spectral_axis(signal: dict) -> str | None:
    """The axis that makes a signal spectral (energy, wavelength), described, or None."""
    for i, axis in enumerate(signal.get("axes") or []):
        units = str(axis.get("units") or "").strip()
        name = str(axis.get("name") or "").strip()
        words = name.lower()
        if units.lower() in ENERGY_UNITS or "energy" in words or "wavelength" in words:
            size = axis.get("size", signal["data"].shape[i])
            return f"{name or 'axis ' + str(i)} in {units or 'channels'}, {size} channels"
    return None


def frames(signal: dict) -> list[np.ndarray]:
    """The 2-D images of an image signal: one, or one per frame of a stack."""
    nav, sig = _split_axes(signal)
    data = np.asarray(signal["data"])
    data = np.transpose(data, [*nav, *sig])
    return list(data.reshape(-1, *data.shape[-2:]))


def session_of(path: str | Path, metadata: dict) -> str:
    """Images that must share a split: one folder's images of one day, else one file."""
    day = str(metadata.get("acquisition_time") or "")[:10]
    return f"{Path(path).parent}/{day}" if day else str(path)


def _split_axes(signal: dict) -> tuple[list[int], list[int]]:
    axes = signal.get("axes") or [{} for _ in range(signal["data"].ndim)]
    if not any("navigate" in a for a in axes):  # unmarked: images are the last two axes
        n = len(axes)
        return list(range(max(n - 2, 0))), list(range(max(n - 2, 0), n))
    nav = [i for i, a in enumerate(axes) if a.get("navigate")]
    sig = [i for i, a in enumerate(axes) if not a.get("navigate")]
    return nav, sig


def _common_fields(signal: dict, metadata: dict, provenance: dict) -> None:
    """Pixel size from the axes, frame size and acquisition time, where the vendor gave none."""
    _, sig = _split_axes(signal)
    y, x = (signal["axes"][i] for i in sig)
    if "pixel_size" not in metadata and x.get("units") and x.get("scale"):
        try:
            set_field(
                metadata, provenance, "pixel_size", x["scale"], unit=x["units"], key="axes[x].scale"
            )
        except ValueError:  # a unit that is not a length ("px", "<undefined>")
            pass
    for name, axis in (("frame_width", x), ("frame_height", y)):
        if "size" in axis:
            set_field(metadata, provenance, name, int(axis["size"]), unit=None, key="image shape")
    _drop_placeholder_magnification(metadata, provenance)
    general = signal.get("metadata", {}).get("General", {})
    if "acquisition_time" not in metadata and general.get("date"):
        stamp = f"{general['date']}T{general.get('time', '00:00:00')}"
        try:
            iso = datetime.fromisoformat(stamp).isoformat()
        except ValueError:
            return
        set_field(metadata, provenance, "acquisition_time", iso, unit=None, key="General.date/time")


def _drop_placeholder_magnification(metadata: dict, provenance: dict) -> None:
    """A magnification that cannot go with the field of view is a placeholder (a DM
    default of 1000x on a 13 nm field): shown on a ~0.1 m screen, a real one puts the
    field of view between 0.1 mm and 10 m."""
    need = ("magnification", "pixel_size", "frame_width")
    if not all(isinstance(metadata.get(n), float | int) for n in need):
        return
    shown = metadata["magnification"] * metadata["pixel_size"] * metadata["frame_width"] * 1e-9
    if not 1e-4 <= shown <= 10:
        fov = metadata["pixel_size"] * metadata["frame_width"]
        del metadata["magnification"]
        provenance["magnification"] += (
            f" (ignored: a placeholder; it does not fit the {fov:.3g} nm field of view)"
        )


def _title(signal: dict, index: int) -> str:
    title = signal.get("metadata", {}).get("General", {}).get("title") or ""
    return f"signal {index}" + (f" ({title})" if title else "")
