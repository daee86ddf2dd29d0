"""What the explorer shows of a dataset: rows, filters, pictures, neighbours and a map.

Read-only: the dataset is never written. Thumbnails are made once and kept in the user's
cache (beside read-only datasets' embeddings), keyed by the image's content id. With a run,
the run's embeddings of the dataset (`cimp embed`) give neighbours, search and the map, and
its predictor gives intervals and the audit's score per image.
"""

from __future__ import annotations

import io
import os
import re
import stat
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from cimp import schema
from cimp.atomic import SUFFIX
from cimp.errors import CimpError
from cimp.search import allowed_rows, parse_condition, parse_setting, settings_from
from cimp.store import Store

THUMB = 128  # px: the grid's thumbnails
IMAGE_ID = re.compile(r"^[0-9a-f]{8,64}$")


class NotFound(CimpError):
    """No image of that id in the dataset."""


@dataclass
class Page:
    """One page of a selection."""

    total: int
    rows: pd.DataFrame


class Archive:
    """A dataset (and optionally a run's embeddings of it), as the explorer reads it."""

    def __init__(
        self,
        dataset: str | Path,
        run: str | Path | None = None,
        cache=None,
        denoiser: str | Path | None = None,
    ):
        self.store = Store(dataset)
        self.root = Path(dataset).resolve()
        self.table = self.store.table().reset_index(drop=True)
        self.by_id = pd.Series(np.arange(len(self.table)), index=self.table["image_id"])
        from cimp.embeddings import cache_dir

        key = cache_dir(dataset)  # <cache>/embeddings/<key>: thumbnails go to <cache>/thumbs
        self.cache = (Path(cache) if cache else key.parent.parent / "thumbs") / key.name
        self.run = None
        self.emb = None
        if run is not None:
            from cimp.embeddings import load
            from cimp.run import Run

            self.run = Run(run)
            self.emb = load(self.run, dataset, self.table)
        self.denoiser = None
        if denoiser is not None:
            from cimp.denoise.apply import Denoiser

            self.denoiser = Denoiser(denoiser, "cpu")

    # -- rows ----------------------------------------------------------------------------

    def select(
        self,
        where: list[str] = (),
        split: str = "",
        sort: str = "",
        offset: int = 0,
        *,
        limit: int = 60,
    ) -> Page:
        """The rows passing `where` (the --where syntax) and `split`, sorted by a field or by
        the audit's score (`audit`), one page of them."""
        keep = allowed_rows(self.table, [parse_condition(w) for w in where if w.strip()])
        rows = self.table if keep is None else self.table[keep]
        if split:
            rows = rows[rows["split"] == split]
        if sort == "audit":
            scores = self.audit_scores
            if scores is None:
                raise CimpError("sorting by the audit's score needs a run (--run)")
            rows = rows.assign(score=scores.reindex(rows["image_id"]).to_numpy())
            rows = rows.sort_values("score", ascending=False, kind="stable")
        elif sort:
            name, descending = sort.lstrip("-"), sort.startswith("-")
            if name not in rows:
                raise CimpError(f"cannot sort by {name!r}: not a field of this dataset")
            rows = rows.sort_values(name, ascending=not descending, kind="stable")
        offset, limit = max(int(offset), 0), min(max(int(limit), 1), 500)
        return Page(len(rows), rows.iloc[offset : offset + limit])

    def row(self, image_id: str) -> pd.Series:
        """The row of an image id (NotFound for anything else, paths included)."""
        if not IMAGE_ID.match(image_id) or image_id not in self.by_id.index:
            raise NotFound(f"no image {image_id!r} in this dataset")
        return self.table.iloc[int(self.by_id[image_id])]

    def fields(self, image_id: str) -> list[tuple[str, str, str]]:
        """(field, value with unit, where it came from) of every recorded field."""
        row = self.row(image_id)
        provenance = _json(row.get("provenance"))
        out = []
        for f in schema.FIELDS:
            value = row.get(f.name)
            if value is None or (isinstance(value, float) and not np.isfinite(value)):
                continue
            shown = f"{value:.4g} {f.unit}".strip() if isinstance(value, float) else str(value)
            out.append((f.name, shown, str(provenance.get(f.name, ""))))
        return out

    @cached_property
    def skipped(self) -> pd.DataFrame:
        """The files the last ingest could not take, and why."""
        path = self.root / "skipped.csv"
        return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["path", "reason"])

    # -- pictures ------------------------------------------------------------------------

    def thumbnail(self, image_id: str) -> bytes:
        """A PNG thumbnail, made once and cached. Only a plain file of the cache is read:
        a symlink planted there is replaced, never followed."""
        self.row(image_id)
        path = self.cache / f"{image_id}.png"
        cached = _read_plain_file(path)
        if cached is not None:
            return cached
        data = picture(self.store.image(image_id), THUMB)
        self.cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}{SUFFIX}")  # one per request
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return data

    def picture(self, image_id: str, low: float = 0.5, high: float = 99.5) -> bytes:
        """The whole image as a PNG, its display range between two percentiles."""
        self.row(image_id)
        return picture(self.store.image(image_id), None, low, high)

    # -- what a run knows ----------------------------------------------------------------

    def _need_run(self) -> None:
        if self.emb is None:
            raise CimpError("this needs a run: start `cimp serve` with --run RUN")

    def _embedded(self, image_id: str) -> int | None:
        """The image's row among the run's embeddings (None if it was not embedded)."""
        at = np.flatnonzero(self.emb.table["image_id"].to_numpy() == image_id)
        return int(at[0]) if at.size else None

    def neighbours(self, image_id: str, k: int = 8) -> dict[str, pd.DataFrame]:
        """The k images most alike by image and by recorded settings."""
        self._need_run()
        from cimp.embeddings import Embeddings
        from cimp.search import search

        emb, i = self.emb, self._embedded(image_id)
        if i is None:
            return {}
        by_settings = Embeddings(emb.table, emb.meta, emb.meta, emb.folder)
        return {
            "image": search(emb, emb.image[i], k, [], exclude_row=i),
            "settings": search(by_settings, emb.meta[i], k, [], exclude_row=i),
        }

    def like_settings(self, text: str, k: int = 24) -> pd.DataFrame:
        """The images whose image embedding is closest to settings written as
        `dwell_time=2us pixel_size=0.05nm`."""
        self._need_run()
        from cimp.embeddings import embed_settings
        from cimp.search import search

        wanted = settings_from([parse_setting(t) for t in text.split() if t.strip()])
        if not wanted:
            raise CimpError("write settings as field=value, e.g. dwell_time=2us")
        vector = embed_settings(self.model, self.run.normalizer, wanted)
        return search(self.emb, vector, k, [])

    def like_image(self, image: np.ndarray, k: int = 24) -> pd.DataFrame:
        """The images most alike an uploaded one."""
        self._need_run()
        from cimp.embeddings import embed_image
        from cimp.search import search

        return search(self.emb, embed_image(self.model, image), k, [])

    @cached_property
    def model(self):
        return self.run.load_model("cpu")

    @cached_property
    def predictor(self):
        from cimp.recovery import for_run

        return for_run(self.run, show_progress=False)

    @cached_property
    def audit_scores(self) -> pd.Series | None:
        """The audit's score per image id (None without a run)."""
        if self.emb is None:
            return None
        from cimp.audit import audit

        scored = audit(self.predictor, self.emb)
        return pd.Series(scored["score"].to_numpy(), index=scored["image_id"].to_numpy())

    def predictions(self, image_id: str, level: float = 0.9) -> list[tuple[str, str, str]]:
        """(field, predicted value and 90 % interval, recorded value) of every probed field;
        a field the run cannot recover says so instead of an interval that means nothing."""
        self._need_run()
        i = self._embedded(image_id)
        if i is None:
            return []
        row = self.emb.table.iloc[i]
        p = self.predictor.predict(self.emb.image[i : i + 1], level).iloc[0]
        out = []
        for name, model in self.predictor.fields.items():
            unit = schema.field(name).unit
            recorded = row.get(name)
            recorded = "-" if pd.isna(recorded) else f"{recorded:.4g} {unit}"
            if not model.recoverable(level):
                out.append((name, "not recoverable by this run", recorded))
                continue
            value, low, high = p[name], p[f"{name}_low"], p[f"{name}_high"]
            out.append((name, f"{value:.3g} {unit} ({low:.3g}-{high:.3g})", recorded))
        return out

    def outside(self, image_id: str) -> list[str]:
        """How the image lies outside what the run was trained on."""
        from cimp.domain import for_run

        domain = for_run(self.run) if self.run is not None else None
        if domain is None:
            return []
        row = self.table.iloc[[int(self.by_id[image_id])]]
        return list(domain.check_rows(row)[0].values())

    def dose_preview(self, image_id: str, changes: dict[str, str]) -> bytes:
        """The denoiser's preview PNG of the image at a higher dose."""
        if self.denoiser is None:
            raise CimpError("this needs a denoiser: start `cimp serve` with --denoiser DRUN")
        from cimp.denoise.preview import write_preview

        row = self.row(image_id)
        image = self.store.image(image_id)
        metadata = {
            f.name: row[f.name] for f in schema.FIELDS if f.name in row and pd.notna(row[f.name])
        }
        result = self.denoiser.transfer(image, metadata, changes)
        out = io.BytesIO()
        write_preview(out, image, result.image, result.ratio, cal=result.calibration)
        return out.getvalue()

    @cached_property
    def projection(self) -> pd.DataFrame:
        """image_id, x, y: the image embeddings' first two principal components."""
        self._need_run()
        x = self.emb.image - self.emb.image.mean(axis=0)
        _, _, axes = np.linalg.svd(x, full_matrices=False)
        xy = x @ axes[:2].T
        return pd.DataFrame({"image_id": self.emb.table["image_id"], "x": xy[:, 0], "y": xy[:, 1]})


def picture(image: np.ndarray, side: int | None, low: float = 0.5, high: float = 99.5) -> bytes:
    """A grey PNG of an image, its display range between two percentiles, at most `side`
    px on its longer side."""
    from PIL import Image

    x = np.nan_to_num(image.astype(np.float32))
    lo, hi = np.percentile(x, [low, high])
    scaled = np.clip((x - lo) / max(hi - lo, 1e-12), 0, 1)
    picture = Image.fromarray((scaled * 255).astype(np.uint8))
    if side and max(picture.size) > side:
        picture.thumbnail((side, side), Image.Resampling.BOX)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _json(text) -> dict:
    import json

    try:
        return json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}


def _read_plain_file(path: Path) -> bytes | None:
    """The bytes of `path` if it is a regular file (not a symlink), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a fifo never blocks
    except OSError:  # missing, or a symlink (ELOOP)
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read()
