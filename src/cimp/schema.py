"""The canonical metadata schema: fields, units, transforms, normalisation.

Every other module reads field names from here. Values are held in canonical units;
a missing value is NaN (numeric) or None (categorical), never 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cimp.errors import CimpError

NUMERIC, CATEGORICAL, TIMESTAMP = "numeric", "categorical", "timestamp"


@dataclass(frozen=True)
class Field:
    """One metadata field: canonical unit, kind, transform and ranges."""

    name: str
    unit: str
    kind: str = NUMERIC
    log: bool = False
    typical: tuple[float, float] | None = None
    plausible: tuple[float, float] = (-math.inf, math.inf)
    core: bool = False
    per_instrument: bool = False
    description: str = ""

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Physical value -> the space in which it is z-scored (log10 for scale-like fields)."""
        values = np.asarray(values, dtype=np.float64)
        if not self.log:
            return values
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log10(values), np.nan)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        return 10.0**values if self.log else values

    def is_plausible(self, value: float) -> bool:
        lo, hi = self.plausible
        return math.isfinite(value) and lo <= value <= hi


FIELDS: tuple[Field, ...] = (
    Field(
        "pixel_size",
        "nm",
        log=True,
        typical=(0.005, 2.0),
        plausible=(1e-4, 1e5),
        core=True,
        description="distance between neighbouring scan positions",
    ),
    Field(
        "dwell_time",
        "us",
        log=True,
        typical=(0.2, 50.0),
        plausible=(1e-3, 1e5),
        core=True,
        description="time the probe stays on one pixel",
    ),
    Field(
        "convergence_angle",
        "mrad",
        typical=(10.0, 35.0),
        plausible=(0.01, 200.0),
        core=True,
        description="probe semi-convergence angle",
    ),
    Field(
        "beam_current",
        "pA",
        log=True,
        typical=(1.0, 200.0),
        plausible=(1e-3, 1e6),
        core=True,
        description="probe current on the specimen",
    ),
    Field(
        "detector_gain",
        "a.u.",
        typical=(10.0, 60.0),
        core=True,
        per_instrument=True,
        description="detector gain setting, in the vendor's units",
    ),
    Field(
        "detector_offset",
        "a.u.",
        typical=(-3.0, 0.0),
        core=True,
        per_instrument=True,
        description="detector offset (black level) setting, in the vendor's units",
    ),
    Field(
        "inner_collection_angle",
        "mrad",
        typical=(30.0, 120.0),
        plausible=(0.0, 1000.0),
        core=True,
        description="inner semi-angle of the annular detector",
    ),
    Field(
        "beam_energy",
        "kV",
        typical=(60.0, 300.0),
        plausible=(0.1, 3000.0),
        description="accelerating voltage",
    ),
    Field(
        "magnification",
        "x",
        log=True,
        typical=(1e4, 1e8),
        plausible=(1.0, 1e10),
        description="indicated magnification",
    ),
    Field(
        "camera_length",
        "mm",
        log=True,
        typical=(20.0, 500.0),
        plausible=(5.0, 1e5),  # a STEM camera length of 1 mm is a DM placeholder
        description="STEM camera length",
    ),
    Field(
        "outer_collection_angle",
        "mrad",
        typical=(100.0, 250.0),
        plausible=(0.0, 2000.0),
        description="outer semi-angle of the annular detector",
    ),
    Field(
        "stage_alpha",
        "deg",
        typical=(-30.0, 30.0),
        plausible=(-90.0, 90.0),
        description="stage tilt alpha",
    ),
    Field(
        "stage_beta",
        "deg",
        typical=(-30.0, 30.0),
        plausible=(-90.0, 90.0),
        description="stage tilt beta",
    ),
    Field("defocus", "nm", typical=(-20.0, 20.0), plausible=(-1e6, 1e6), description="defocus"),
    Field(
        "scan_rotation",
        "deg",
        typical=(-180.0, 180.0),
        plausible=(-720.0, 720.0),
        description="scan rotation",
    ),
    Field(
        "frame_width",
        "px",
        log=True,
        typical=(256.0, 4096.0),
        plausible=(1.0, 1e6),
        description="pixels along the fast-scan axis",
    ),
    Field(
        "frame_height",
        "px",
        log=True,
        typical=(256.0, 4096.0),
        plausible=(1.0, 1e6),
        description="pixels along the slow-scan axis",
    ),
    Field("detector", "", kind=CATEGORICAL, description="name of the detector that made the image"),
    Field("instrument", "", kind=CATEGORICAL, description="microscope model or serial"),
    Field("acquisition_time", "", kind=TIMESTAMP, description="start of the acquisition, ISO 8601"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
CORE_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if f.core)
CORE_NAMES: tuple[str, ...] = tuple(f.name for f in CORE_FIELDS)
NUMERIC_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind == NUMERIC)
CATEGORICAL_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind == CATEGORICAL)


class UnknownField(CimpError, KeyError):
    """A field name that the schema does not know (a typo)."""

    def __str__(self) -> str:
        return str(self.args[0])


def field(name: str) -> Field:
    """The field called `name`, with a clear error for a typo."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownField(
            f"unknown metadata field {name!r}; known: {', '.join(BY_NAME)}"
        ) from None


# --- units ---------------------------------------------------------------------------------

_UNIT_GROUPS: dict[str, dict[str, float]] = {
    "length": {
        "m": 1e9,
        "mm": 1e6,
        "um": 1e3,
        "µm": 1e3,
        "μm": 1e3,
        "nm": 1.0,
        "pm": 1e-3,
        "A": 0.1,
        "Å": 0.1,
        "angstrom": 0.1,
    },
    "time": {"s": 1e6, "ms": 1e3, "us": 1.0, "µs": 1.0, "μs": 1.0, "ns": 1e-3},
    "current": {"A": 1e12, "mA": 1e9, "uA": 1e6, "µA": 1e6, "nA": 1e3, "pA": 1.0, "fA": 1e-3},
    "angle": {
        "rad": 1e3,
        "mrad": 1.0,
        "urad": 1e-3,
        "µrad": 1e-3,
        "deg": 1e3 * math.pi / 180,
        "°": 1e3 * math.pi / 180,
    },
    "voltage": {"V": 1e-3, "kV": 1.0, "MV": 1e3},
}
_GROUP_OF_CANONICAL = {
    "nm": "length",
    "mm": "length",
    "us": "time",
    "pA": "current",
    "mrad": "angle",
    "deg": "angle",
    "kV": "voltage",
}


def convert(value: float, unit: str, to: str) -> float:
    """Convert `value` from `unit` to `to` (both in one of the known unit groups)."""
    if unit == to:
        return float(value)
    for factors in _UNIT_GROUPS.values():
        if unit in factors and to in factors:
            return float(value) * factors[unit] / factors[to]
    raise ValueError(f"cannot convert {unit!r} to {to!r}")


def to_canonical(name: str, value: float, unit: str | None = None) -> float:
    """`value` in `unit` -> the canonical unit of field `name` (unit None: already canonical)."""
    f = field(name)
    if unit is None or unit == f.unit:
        return float(value)
    if f.unit not in _GROUP_OF_CANONICAL:
        raise ValueError(f"field {name!r} has no convertible unit (canonical {f.unit!r})")
    return convert(value, unit, f.unit)


# --- normalisation --------------------------------------------------------------------------

_GLOBAL = "*"


@dataclass
class Normalizer:
    """z-scoring statistics fitted on a training table; missing values stay missing.

    `stats[field][instrument] = (mean, std)` in the transformed space; fields marked
    `per_instrument` (vendor gain and offset) get one entry per instrument plus a global one.
    `categories[field]` lists the values seen, index 0 meaning unknown.
    """

    stats: dict[str, dict[str, tuple[float, float]]]
    categories: dict[str, list[str]]

    @classmethod
    def fit(cls, table: pd.DataFrame, names: Iterable[str] = NUMERIC_NAMES) -> Normalizer:
        stats: dict[str, dict[str, tuple[float, float]]] = {}
        instruments = _instrument_column(table)
        for name in names:
            f = field(name)  # a field absent from the table gets (0, 1): always missing
            column = table[name] if name in table else pd.Series(np.nan, index=table.index)
            values = f.forward(column.to_numpy(dtype=np.float64))
            entry = {_GLOBAL: _mean_std(values)}
            if f.per_instrument:
                for inst in pd.unique(instruments):
                    entry[str(inst)] = _mean_std(values[instruments == inst])
            stats[name] = entry
        categories = {
            name: sorted(str(v) for v in pd.unique(table[name].dropna()))
            for name in CATEGORICAL_NAMES
            if name in table
        }
        return cls(stats, categories)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.stats)

    def encode(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Table -> (z-scores float32 [N, F] with 0 where missing, present-mask bool [N, F])."""
        n = len(table)
        z = np.zeros((n, len(self.stats)), dtype=np.float32)
        present = np.zeros((n, len(self.stats)), dtype=bool)
        instruments = _instrument_column(table)
        for j, name in enumerate(self.stats):
            if name not in table:
                continue
            t = field(name).forward(table[name].to_numpy(dtype=np.float64))
            mean, std = self._stats_for(name, instruments)
            zj = (t - mean) / std
            ok = np.isfinite(zj)
            z[ok, j] = zj[ok]
            present[:, j] = ok
        return z, present

    def decode(self, z: np.ndarray, instruments: Iterable[str] | None = None) -> pd.DataFrame:
        """z-scores [N, F] -> physical values, one column per field."""
        z = np.asarray(z, dtype=np.float64)
        inst = np.array(list(instruments) if instruments is not None else [_GLOBAL] * len(z))
        out = {}
        for j, name in enumerate(self.stats):
            mean, std = self._stats_for(name, inst)
            out[name] = field(name).inverse(z[:, j] * std + mean)
        return pd.DataFrame(out)

    def encode_categories(self, table: pd.DataFrame) -> dict[str, np.ndarray]:
        """Categorical columns -> int64 codes, 0 for unknown or missing."""
        codes = {}
        for name, vocab in self.categories.items():
            lookup = {v: i + 1 for i, v in enumerate(vocab)}
            col = table[name] if name in table else pd.Series([None] * len(table))
            codes[name] = np.array(
                [0 if pd.isna(v) else lookup.get(str(v), 0) for v in col],
                dtype=np.int64,
            )
        return codes

    def _stats_for(self, name: str, instruments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        entry = self.stats[name]
        fallback = entry[_GLOBAL]
        pairs = [entry.get(str(i), fallback) for i in instruments]
        if not pairs:
            return np.array([]), np.array([])
        mean, std = np.array(pairs, dtype=np.float64).T
        return mean, std

    def to_dict(self) -> dict:
        return {"version": 1, "stats": self.stats, "categories": self.categories}

    @classmethod
    def from_dict(cls, data: Mapping) -> Normalizer:
        stats = {
            name: {inst: (float(m), float(s)) for inst, (m, s) in entry.items()}
            for name, entry in data["stats"].items()
        }
        return cls(stats, {k: list(v) for k, v in data["categories"].items()})

    def save(self, path: str | Path) -> None:
        from cimp.atomic import write_json

        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Normalizer:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _instrument_column(table: pd.DataFrame) -> np.ndarray:
    if "instrument" not in table:
        return np.full(len(table), _GLOBAL, dtype=object)
    return table["instrument"].fillna(_GLOBAL).astype(str).to_numpy()


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    std = float(values.std())
    return float(values.mean()), std if std > 1e-12 else 1.0
