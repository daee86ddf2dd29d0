"""Metadata recovered from pixels, with calibrated intervals (split conformal).

Per field, in the space the field is modelled in (log10 for scale-like fields, so their
intervals are a factor either way):

- a ridge probe on frozen image embeddings of the train split gives the value;
- its errors on images it was not fitted on (the validation split, and the train split
  cross-fitted by session folds) give the conformal quantile q(level); the interval is
  value +- q(level).

On images like those, the stated level's interval holds the recorded value for that share of
images (`coverage` measures it on the test split). A per-image width (a second model of the
error) was tried and under-covered held-out images: fitted on train embeddings, it was too
sure of itself on images the encoder had never seen. The predictor is a weight vector and a
few quantiles per field, saved as JSON in the run folder and tied to the run's weights.

An interval that spans most of the field's training range (RECOVERABLE_SHARE or more)
says nothing a constant guess would not: such a field is reported as not recoverable by the
run rather than as a prediction.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cimp import schema, views
from cimp.atomic import write_json
from cimp.domain import for_run as domain_for_run
from cimp.domain import out_of_domain
from cimp.embeddings import Embeddings
from cimp.errors import CimpError
from cimp.probe import ridge

MIN_TRAIN = 20
STORED_SCORES = 2001
RECOVERABLE_SHARE = 0.5


@dataclass
class FieldModel:
    """One field's probe and its sorted calibration errors."""

    name: str
    weight: list[float]
    bias: float
    scores: list[float]  # |error| on the calibration images, sorted
    calibrated_on: str
    train_range: tuple[float, float] | None = None  # modelled space; None: saved before

    def value(self, x: np.ndarray) -> np.ndarray:
        return x @ np.asarray(self.weight) + self.bias

    def quantile(self, level: float) -> float:
        """The conformal quantile: ceil((n + 1) level)-th smallest score (inf past the end)."""
        n = len(self.scores)
        k = math.ceil((n + 1) * level)
        return math.inf if k > n else self.scores[k - 1]

    def span_share(self, level: float) -> float:
        """The interval's width as a share of the training range (0 when not known)."""
        if not self.train_range or self.train_range[1] <= self.train_range[0]:
            return 0.0
        return 2 * self.quantile(level) / (self.train_range[1] - self.train_range[0])

    def recoverable(self, level: float) -> bool:
        return self.span_share(level) < RECOVERABLE_SHARE


class Predictor:
    """Every probed field of a run; predicts values and intervals from image embeddings."""

    def __init__(self, fields: dict[str, FieldModel], weights: str):
        self.fields, self.weights = fields, weights

    def predict(self, x: np.ndarray, level: float = 0.9) -> pd.DataFrame:
        """Per image and field: value, low and high, in physical units."""
        out = {}
        for name, m in self.fields.items():
            f = schema.field(name)
            value, half = m.value(x), m.quantile(level)
            out[name] = f.inverse(value)
            out[f"{name}_low"] = f.inverse(value - half)
            out[f"{name}_high"] = f.inverse(value + half)
        return pd.DataFrame(out)

    def errors(self, x: np.ndarray, table: pd.DataFrame) -> pd.DataFrame:
        """|recorded - predicted| per field (NaN where not recorded), in units of the 90 %
        interval's half-width: above 1 means outside the 90 % interval."""
        out = {}
        for name, m in self.fields.items():
            y = schema.field(name).forward(table[name].to_numpy(dtype=np.float64))
            out[name] = np.abs(y - m.value(x)) / m.quantile(0.9)
        return pd.DataFrame(out, index=table.index)

    def save(self, path: str | Path) -> None:
        data = {"weights": self.weights, "fields": {n: asdict(m) for n, m in self.fields.items()}}
        write_json(path, data)

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        data = json.loads(Path(path).read_text())
        return cls({n: FieldModel(**m) for n, m in data["fields"].items()}, data["weights"])


def fit(emb: Embeddings, weights: str = "") -> Predictor:
    """Fit every numeric field known on enough train images and not constant there."""
    split = emb.table["split"].to_numpy()
    train, val = split == "train", split == "val"
    groups = emb.table["session"].to_numpy()
    fields = {}
    for name in schema.NUMERIC_NAMES:
        if name not in emb.table:
            continue
        y = schema.field(name).forward(emb.table[name].to_numpy(dtype=np.float64))
        known = np.isfinite(y)
        t = train & known
        if t.sum() < MIN_TRAIN or np.ptp(y[t]) == 0:
            continue
        fields[name] = _fit_field(name, emb.image, y, t, val=val & known, groups=groups)
    return Predictor(fields, weights)


def _fit_field(name, x, y, train, *, val, groups) -> FieldModel:
    weight, bias = ridge(x[train], y[train])
    held_out = np.r_[
        y[train] - cross_fitted(x[train], y[train], groups[train]),
        y[val] - (x[val] @ weight + bias),
    ]
    calibrated_on = f"{val.sum()} val + {train.sum()} cross-fitted train images"
    scores = _stored(np.sort(np.abs(held_out)))
    span = (float(y[train].min()), float(y[train].max()))
    return FieldModel(name, weight.tolist(), bias, scores, calibrated_on, span)


def cross_fitted(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5) -> np.ndarray:
    """Each value predicted by a ridge fitted without its group's fold (sessions kept whole)."""
    names, which = np.unique(groups, return_inverse=True)
    fold = np.random.default_rng(0).permutation(len(names))[which] % min(folds, len(names))
    out = np.empty(len(y))
    for k in np.unique(fold):
        weight, bias = ridge(x[fold != k], y[fold != k])
        out[fold == k] = x[fold == k] @ weight + bias
    return out


def _stored(sorted_scores: np.ndarray) -> list[float]:
    """At most STORED_SCORES order statistics (enough for any level to 0.05 %)."""
    if len(sorted_scores) > STORED_SCORES:
        sorted_scores = np.quantile(sorted_scores, np.linspace(0, 1, STORED_SCORES))
    return [float(s) for s in sorted_scores]


def coverage(predictor: Predictor, emb: Embeddings, levels=(0.5, 0.8, 0.9, 0.95)) -> dict:
    """Per field and level: the share of images whose recorded value is in the interval,
    with the median interval width (ratio high/low for log fields, high - low otherwise)."""
    out = {}
    for name in predictor.fields:
        recorded = emb.table[name].to_numpy(dtype=np.float64)
        known = np.isfinite(recorded)
        if not known.any():
            continue
        entry = {"n": int(known.sum()), "unit": schema.field(name).unit, "levels": {}}
        for level in levels:
            p = predictor.predict(emb.image[known], level)
            low, high = p[f"{name}_low"].to_numpy(), p[f"{name}_high"].to_numpy()
            inside = (recorded[known] >= low) & (recorded[known] <= high)
            width = high / low if schema.field(name).log else high - low
            entry["levels"][str(level)] = {
                "coverage": float(inside.mean()),
                "median_width": float(np.median(width)),
            }
        out[name] = entry
    return out


def for_run(
    run: str | Path,
    dataset: str | Path | None = None,
    device: str = "auto",
    show_progress: bool = True,
) -> Predictor:
    """The run's predictor: RUN/predictor.json if it belongs to these weights, else fitted
    on the dataset the run was trained on (embedded first if needed) and saved there."""
    from cimp.embeddings import embed_dataset
    from cimp.run import as_run

    run = as_run(run)
    path = run.path / "predictor.json"
    weights = f"{run.weights_id}-{views.VIEW}"  # a predictor of centre crops is stale
    if path.exists() and dataset is None:
        predictor = Predictor.load(path)
        if predictor.weights == weights:
            return predictor
    if dataset is None:
        dataset = run.dataset
        if not (Path(dataset) / "dataset.json").exists():
            raise CimpError(
                f"the run was trained on {dataset}, which is not there any more: "
                "give the dataset to fit the predictor on"
            )
    predictor = fit(embed_dataset(run, dataset, device, show_progress=show_progress), weights)
    predictor.save(path)
    return predictor


def predict_files(
    run: str | Path, paths, predictor: Predictor, level: float = 0.9, *, device: str = "auto"
) -> list[dict]:
    """Per file and image: every probed field's value and interval beside what the file
    recorded (if anything), whether the run can recover it at all, and every way the image
    lies outside what the run was trained on. Unreadable files and too-small images carry
    an error instead."""
    from cimp.io import UnreadableFile, read

    reader = _Reader(run, device)
    out = []
    for path in paths:
        try:
            records = read(path)
        except (UnreadableFile, OSError) as err:
            out.append({"path": str(path), "error": str(err), "images": []})
            continue
        images = [reader.predict(record, predictor, level) for record in records]
        out.append({"path": str(path), "error": None, "images": images})
    return out


def predict_records(
    run: str | Path, records, predictor: Predictor, level: float = 0.9, *, device: str = "auto"
) -> list[dict]:
    """What predict_files says of each image, for records already read."""
    reader = _Reader(run, device)
    return [reader.predict(record, predictor, level) for record in records]


class _Reader:
    """A run's model and domain, loaded once, reading one record at a time."""

    def __init__(self, run, device: str):
        from cimp.device import resolve_device
        from cimp.run import as_run

        run = as_run(run)
        self.model = run.load_model(resolve_device(device))
        self.domain = domain_for_run(run)

    def predict(self, record, predictor: Predictor, level: float) -> dict:
        from cimp.embeddings import embed_image

        entry = {"frame": record.frame, "shape": list(record.image.shape), "warnings": []}
        entry["out_of_domain"] = out_of_domain(
            self.domain, record, self.model.config.intensity_scale
        )
        if record.image.dtype == np.uint8:
            entry["warnings"].append(
                "8-bit image (an export?): its contrast was probably stretched, so "
                "detector gain and offset cannot be read from it"
            )
        try:
            x = embed_image(self.model, record.image)
        except CimpError as err:
            return entry | {"error": str(err)}
        p = predictor.predict(x[None], level).iloc[0]
        entry["fields"] = {
            name: {
                "value": float(p[name]),
                "low": float(p[f"{name}_low"]),
                "high": float(p[f"{name}_high"]),
                "unit": schema.field(name).unit,
                "recorded": record.metadata.get(name),
                "recoverable": m.recoverable(level),
                "span_of_training_range": round(m.span_share(level), 3),
            }
            for name, m in predictor.fields.items()
        }
        return entry
