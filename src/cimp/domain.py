"""What a run was trained on, recorded so that every image it is asked about is checked.

RUN/domain.json holds the training images' origins (simulated, real acquisitions), dtypes,
frame sizes, brightest levels (each image's 99.9th percentile, in model units) and the range
of each field that changes what the pixels show (the core fields, beam energy, outer angle).
`Domain.check` says, in words, each way an image lies outside: its predictions, scores and
re-renderings are then extrapolations, whatever their intervals say.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cimp import schema

SAMPLE = 200  # training images whose pixels are measured
BRIGHTNESS_MARGIN = 2.0  # a factor either way beyond the training images' brightest levels
FIELD_MARGIN = 0.02  # of the field's training span (modelled space), either side
# fields that change what the pixels show (stage tilt or scan rotation out of range do not)
CHECKED_FIELDS = (*schema.CORE_NAMES, "beam_energy", "outer_collection_angle")


def origin(extra: dict | str | None) -> str:
    """'simulated', 'derived' (written by cimp, e.g. a dose transfer) or 'real'."""
    if isinstance(extra, str):
        extra = json.loads(extra or "{}")
    return str((extra or {}).get("origin") or "real")


def brightness(image: np.ndarray, scale: float) -> float:
    """An image's brightest level in model units: its 99.9th percentile times the scale."""
    values = np.asarray(image).ravel()[::7].astype(np.float64)
    return float(np.nanpercentile(values, 99.9)) * scale


@dataclass
class Domain:
    """The training images of a run, summarised for `check`."""

    origins: list[str]
    dtypes: list[str]
    sizes: tuple[int, int]  # smallest and largest image side
    brightness: tuple[float, float]  # range of the images' 99.9th percentiles, model units
    fields: dict[str, tuple[float, float]]  # physical min and max of each numeric field

    @classmethod
    def fit(cls, store, table: pd.DataFrame, scale: float) -> Domain:
        step = max(1, len(table) // SAMPLE)
        levels = [brightness(store.image(i), scale) for i in table["image_id"].iloc[::step]]
        fields = {}
        for name in CHECKED_FIELDS:
            values = table[name].to_numpy(dtype=np.float64) if name in table else np.array([])
            values = values[np.isfinite(values)]
            if len(values):
                fields[name] = (float(values.min()), float(values.max()))
        sides = pd.concat([table["height"], table["width"]]) if len(table) else pd.Series([0])
        return cls(
            origins=sorted({origin(e) for e in table["extra"]}),
            dtypes=sorted({str(d) for d in table["dtype"]}),
            sizes=(int(sides.min()), int(sides.max())),
            brightness=(min(levels, default=0.0), max(levels, default=0.0)),
            fields=fields,
        )

    def check(
        self,
        metadata: dict,
        source: str,
        dtype: str,
        shape: tuple[int, ...],
        *,
        level: float | None = None,
    ) -> dict[str, str]:
        """Every way an image lies outside the training images, by kind (origin, dtype,
        frame size, brightness, or a field's name); empty when it does not."""
        notes = {}
        if source not in self.origins:
            seen = " and ".join(self.origins)
            notes["origin"] = f"a {source} image; the run was trained on {seen} images only"
        if dtype not in self.dtypes:
            notes["dtype"] = f"stored as {dtype}; the run saw {', '.join(self.dtypes)} images only"
        lo, hi = self.sizes
        if min(shape) < lo / 2 or max(shape) > 2 * hi:
            size = "x".join(map(str, shape))
            notes["frame size"] = f"a {size} px frame; the run saw frames of {lo}-{hi} px"
        b_lo, b_hi = self.brightness
        if level is not None and not b_lo / BRIGHTNESS_MARGIN <= level <= b_hi * BRIGHTNESS_MARGIN:
            notes["brightness"] = (
                f"brightest level {level:.3g} (model units); the run's images reached "
                f"{b_lo:.3g}-{b_hi:.3g}: another detector range or dynamic range"
            )
        for name, (f_lo, f_hi) in self.fields.items():
            value = metadata.get(name)
            if isinstance(value, int | float) and np.isfinite(value):
                if not self._inside(name, float(value), f_lo, f_hi):
                    unit = schema.field(name).unit
                    notes[name] = (
                        f"{name} {value:.4g} {unit} lies outside the training range "
                        f"{f_lo:.4g}-{f_hi:.4g} {unit}"
                    )
        return notes

    def check_rows(self, table: pd.DataFrame) -> list[dict[str, str]]:
        """`check` for every row of a dataset table (pixels not measured)."""
        fields = [n for n in self.fields if n in table]
        values = table[fields].to_dict("records")
        return [
            self.check(meta, origin(extra), str(dtype), (int(h), int(w)))
            for meta, extra, dtype, h, w in zip(
                values, table["extra"], table["dtype"], table["height"], table["width"],
                strict=True,
            )
        ]  # fmt: skip

    def describe(self) -> str:
        """One sentence on the training images, for reports."""
        lo, hi = self.sizes
        text = f"{' and '.join(self.origins)} images ({', '.join(self.dtypes)}, {lo}-{hi} px)"
        if "beam_energy" in self.fields:
            e_lo, e_hi = self.fields["beam_energy"]
            text += f" at {e_lo:.4g}" + ("" if e_lo == e_hi else f"-{e_hi:.4g}") + " kV"
        return text

    @staticmethod
    def _inside(name: str, value: float, lo: float, hi: float) -> bool:
        f = schema.field(name)
        v, a, b = (float(f.forward(np.array(x))) for x in (value, lo, hi))
        margin = FIELD_MARGIN * (b - a) + 1e-9 * max(abs(a), abs(b), 1.0)
        return a - margin <= v <= b + margin

    def save(self, path: str | Path) -> None:
        from cimp.atomic import write_json

        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> Domain:
        data = json.loads(Path(path).read_text())
        data["fields"] = {k: tuple(v) for k, v in data["fields"].items()}
        data["sizes"], data["brightness"] = tuple(data["sizes"]), tuple(data["brightness"])
        return cls(**data)


def out_of_domain(domain: Domain | None, record, scale: float) -> list[str]:
    """Every way a record (image and metadata) lies outside a run's training images."""
    if domain is None:
        return ["cannot be checked: the run records no training domain and its dataset is gone"]
    image = record.image
    level = brightness(image, scale)
    notes = domain.check(
        record.metadata, origin(record.extra), str(image.dtype), image.shape, level=level
    )
    return list(notes.values())


def for_run(run) -> Domain | None:
    """The run's domain (`run`: a folder or a `cimp.run.Run`): RUN/domain.json, else
    measured on its training split (if the dataset is still there) and saved; None when
    neither is possible."""
    from cimp.run import DOMAIN, as_run
    from cimp.store import Store

    run = as_run(run)
    path = run.path / DOMAIN
    if path.exists():
        return Domain.load(path)
    if not (run.dataset / "dataset.json").exists():
        return None
    store = Store(run.dataset)
    table = store.table()
    scale = run.config.model.intensity_scale
    domain = Domain.fit(store, table[table["split"] == "train"], scale)
    try:
        domain.save(path)
    except OSError:
        pass  # a read-only run folder: measured again next time
    return domain
