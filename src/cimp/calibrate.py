"""An instrument profile measured from a lab's own ingested images (`cimp calibrate`).

Per instrument and detector:
- **black level vs offset**: each image's dark end (the mean of its darkest 16 px block, or
  its 1st percentile when it has few blocks; vacuum scatters next to nothing onto an annular
  detector, so with vacuum in the field this is the black level within ~0.2 noise sigma,
  without it an upper bound); the darkest image of each offset is fitted as a line in the
  offset when two offsets or more were used;
- **photon transfer vs gain**: from frames of one series (same file, shape and settings),
  whose difference holds noise alone: per 16 px block, the variance of (a - b) / sqrt(2)
  against the mean of (a + b) / 2; the line's slope is counts per detected electron times
  the pulse-height excess, its intercept the read noise squared. Fitted as log10(slope) vs
  gain when two gains or more were used. Single structured images cannot give it: their
  structure inflates every block's variance;
- **menus**: the settings actually used (convergence, camera lengths, dwell times, probe
  currents, beam energies, frame sizes, pixel sizes).

The result is a profile `cimp simulate --profile` reads: the menus, the detector constants
the fits give (the default profile's where the data say nothing; `detector.measured` names
which), the default's operator habits, and a `calibration` section with every fit per
instrument and detector, its quality and the points behind it.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from cimp import figures
from cimp.atomic import write_json
from cimp.errors import CimpError
from cimp.instrument.detector import Detector
from cimp.instrument.profile import Profile, default
from cimp.store import Store

BLOCK = 16
MIN_BLOCKS = 8
MENUS = {
    "convergence_apertures_mrad": "convergence_angle",
    "camera_lengths_mm": "camera_length",
    "dwell_times_us": "dwell_time",
    "beam_currents_pa": "beam_current",
    "beam_energies_kv": "beam_energy",
}


def dark_end(image: np.ndarray, block: int = BLOCK) -> float:
    """The mean of an image's darkest block (its 1st percentile when it has few blocks): its
    black level when it shows vacuum."""
    image = np.asarray(image, dtype=np.float64)
    h, w = (s - s % block for s in image.shape)
    if (h // block) * (w // block) < MIN_BLOCKS:
        return float(np.nanpercentile(image, 1.0))
    means = image[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    return float(np.nanmin(means))


def frame_pair_transfer(a: np.ndarray, b: np.ndarray, block: int = BLOCK) -> dict | None:
    """Photon transfer from two frames of one scene: slope, read noise and the line's R2
    over binned blocks (blocks with a clipped pixel left out: clipping hides noise); None
    when the frames are too small to measure."""
    clipped = _clipped(a) | _clipped(b)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    h, w = (s - s % block for s in a.shape)
    if (h // block) * (w // block) < MIN_BLOCKS:
        return None

    def blocks(x: np.ndarray) -> np.ndarray:
        return x[:h, :w].reshape(h // block, block, w // block, block).transpose(0, 2, 1, 3)

    fine = ~blocks(clipped).any(axis=(2, 3)).ravel()
    if fine.sum() < MIN_BLOCKS:
        return None
    mean = blocks((a + b) / 2).mean(axis=(2, 3)).ravel()[fine]
    variance = blocks((a - b) / np.sqrt(2)).var(axis=(2, 3)).ravel()[fine]
    order = np.argsort(mean)
    bins = [part for part in np.array_split(order, min(10, len(order) // 2)) if len(part)]
    x = np.array([np.median(mean[p]) for p in bins])
    y = np.array([np.median(variance[p]) for p in bins])
    slope, intercept = np.polyfit(x, y, 1)
    r2 = 1 - np.sum((y - (intercept + slope * x)) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12)
    return {
        "slope": float(slope),
        "read_noise": float(np.sqrt(max(intercept, 0.0))),
        "r2": float(r2),
    }


def calibrate(dataset: str | Path) -> dict:
    """The profile of every instrument and detector in the dataset, with its fits."""
    store = Store(dataset)
    table = store.table()
    if table.empty:
        raise CimpError(f"{dataset} holds no image to calibrate from")
    base = default()
    instruments = {}
    keys = table[["instrument", "detector"]].fillna("unknown").astype(str)
    for (instrument, detector), rows in table.groupby([keys["instrument"], keys["detector"]]):
        instruments[f"{instrument} / {detector}"] = {
            "images": len(rows),
            "black_level": _black_levels(store, rows),
            "photon_transfer": _transfer(store, rows),
            "menus": _menus(rows),
        }
    everything = _menus(table)
    profile = asdict(base) | {k: v for k, v in everything.items() if k in asdict(base) and v}
    profile["detector"] = _detector(instruments, base.detector)
    pixels = table["pixel_size"].dropna()
    if len(pixels):
        steps = base.pixel_size_nm["steps_per_decade"]
        used = {"smallest": float(pixels.min()), "largest": float(pixels.max())}
        profile["pixel_size_nm"] = used | {"steps_per_decade": steps}
    profile["name"] = f"measured from {Path(dataset).resolve()}"
    return profile | {"calibration": instruments}


def _detector(instruments: dict, base: Detector) -> dict:
    """Detector constants from the fits of the instrument with the most images that has any
    (the base's elsewhere), and which of them were measured."""
    measured: dict[str, str] = {}
    fitted = [
        (entry["images"], name, entry)
        for name, entry in instruments.items()
        if entry["black_level"]["fit"] or entry["photon_transfer"]["points"]
    ]
    if not fitted:
        return asdict(base) | {"measured": {"none": "the default profile's detector, unchanged"}}
    _, name, entry = max(fitted, key=lambda t: t[0])
    det = base
    black = entry["black_level"]["fit"]
    if black:
        det = replace(
            det, black_at_zero_offset=black["intercept"], counts_per_offset=black["slope"]
        )
        measured["black level"] = f"{name}: line through {black['points']} offsets"
    excess = 1.0 + 1.0 / det.pulse_shape
    transfer = entry["photon_transfer"]
    gains = [p["gain"] for p in transfer["points"] if p["gain"] is not None and p["slope"] > 0]
    if gains:
        reference = float(np.median(gains))
        if transfer["fit"]:
            fit = transfer["fit"]
            per_decade = 1.0 / fit["slope"]
            counts = 10 ** (fit["intercept"] + fit["slope"] * reference) / excess
        else:
            per_decade = det.gain_per_decade
            slopes = [p["slope"] for p in transfer["points"] if p["gain"] == reference]
            counts = float(np.median(slopes or [p["slope"] for p in transfer["points"]])) / excess
        det = replace(det, reference_gain=reference, counts_at_reference=float(counts),
                      gain_per_decade=float(per_decade))  # fmt: skip
        measured["counts per electron"] = f"{name}: photon transfer at {len(gains)} frame pairs"
    return asdict(det) | {"measured": measured}


def _clipped(image: np.ndarray) -> np.ndarray:
    """Pixels at either end of an integer image's range."""
    image = np.asarray(image)
    if image.dtype.kind not in "ui":
        return np.zeros(image.shape, dtype=bool)
    return (image == np.iinfo(image.dtype).min) | (image == np.iinfo(image.dtype).max)


def _black_levels(store: Store, rows: pd.DataFrame) -> dict:
    points = [
        {"offset": None if pd.isna(o) else float(o), "dark_end": dark_end(store.image(i))}
        for i, o in zip(rows["image_id"], rows["detector_offset"], strict=True)
    ]
    darkest: dict[float, float] = {}  # per offset, the image with the most vacuum
    for p in points:
        if p["offset"] is not None:
            darkest[p["offset"]] = min(darkest.get(p["offset"], np.inf), p["dark_end"])
    unit = "counts per offset unit"
    return {"points": points} | _line(list(darkest), list(darkest.values()), unit)


def _transfer(store: Store, rows: pd.DataFrame) -> dict:
    """Photon transfer of every pair of consecutive frames of one series."""
    points = []
    series = rows[rows["extra"].str.contains("frame_of_stack", na=False)]
    for _, frames in series.groupby(["source", "height", "width", "dwell_time", "detector_gain"],
                                    dropna=False):  # fmt: skip
        ids = frames.sort_values("frame")["image_id"].to_list()
        for first, second in itertools.pairwise(ids):
            measured = frame_pair_transfer(store.image(first), store.image(second))
            if measured is not None:
                gain = frames["detector_gain"].iat[0]
                points.append({"gain": None if pd.isna(gain) else float(gain)} | measured)
    known = [p for p in points if p["gain"] is not None and p["slope"] > 0]
    fit = _line(
        [p["gain"] for p in known], [np.log10(p["slope"]) for p in known], "decades per gain unit"
    )
    if not points:
        fit["note"] = (
            "series of frames too small or too clipped to measure"
            if len(series)
            else "no series of frames to measure photon transfer from"
        )
    return {"points": points} | fit


def _line(x: list[float], y: list[float], unit: str) -> dict:
    """A least-squares line with its R2, or the reason there is none."""
    if len(set(x)) < 2:
        return {"fit": None, "why": f"{len(set(x))} distinct value(s): a line needs two"}
    slope, intercept = np.polyfit(x, y, 1)
    fitted = intercept + slope * np.asarray(x)
    residual = np.sum((np.asarray(y) - fitted) ** 2)
    r2 = 1 - residual / max(np.sum((np.asarray(y) - np.mean(y)) ** 2), 1e-12)
    return {"fit": {"slope": float(slope), "intercept": float(intercept), "unit": unit,
                    "r2": float(r2), "points": len(x)}}  # fmt: skip


def _menus(rows: pd.DataFrame) -> dict:
    """The distinct settings used, rounded to 3 significant digits."""
    out = {}
    for key, name in MENUS.items():
        values = rows[name].dropna().to_numpy(dtype=np.float64)
        out[key] = sorted({float(f"{v:.3g}") for v in values if v > 0})
    out["frame_sizes"] = sorted({int(s) for s in rows["width"]})
    return out


def write(profile: dict, out: str | Path) -> Path:
    """The profile as JSON (readable by `Profile.load`) and a figure beside it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, profile)
    Profile.load(out)  # what simulate will read must load
    figures.detector_calibration(profile["calibration"], out.with_suffix(".png"))
    return out
