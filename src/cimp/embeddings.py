"""Image and metadata embeddings of a whole dataset, stored with it and computed once.

    DATASET/embeddings/<run>-<weights hash>-pooled/
      run.json           which run (path, hash of its weights, crop) made them
      part-*.npz         image_id, image and metadata embeddings of up to PART rows each

Parts are written atomically and rows already embedded are never embedded again, so a
killed `cimp embed` resumes and a grown dataset only embeds its new images. Each image is
read whole (a grid of crops, pooled: `cimp.views`); images smaller than the crop get no
embedding. Reading a dataset writes nothing until there is something to embed; a dataset
on a read-only mount keeps its new embeddings in the user's cache instead ($CIMP_CACHE,
else ~/.cache/cimp).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cimp import schema, views
from cimp.atomic import atomic_write, write_json
from cimp.device import resolve_device
from cimp.errors import CimpError
from cimp.progress import Bar
from cimp.run import Run, as_run
from cimp.store import Store

PART = 512


@dataclass
class Embeddings:
    """Embeddings of the rows of `table` (same order), L2-normalised float32."""

    table: pd.DataFrame
    image: np.ndarray
    meta: np.ndarray
    folder: Path

    def subset(self, keep: np.ndarray) -> Embeddings:
        """The rows where `keep` is True."""
        table = self.table[keep].reset_index(drop=True)
        return Embeddings(table, self.image[keep], self.meta[keep], self.folder)


def folder_for(run: str | Path | Run, dataset: str | Path) -> Path:
    """Where a run's embeddings of a dataset live: named by the run and its weights, in
    the dataset, or in the user's cache when the dataset cannot be written to."""
    run = as_run(run)
    name = f"{run.path.resolve().name}-{run.weights_id}-{views.VIEW}"
    inside = Path(dataset) / "embeddings"
    if inside.joinpath(name).exists() or _writable(inside):
        return inside / name
    return cache_dir(dataset) / name


def cache_dir(dataset: str | Path) -> Path:
    """The embeddings folder of a read-only dataset, in the user's cache."""
    root = Path(os.environ.get("CIMP_CACHE") or Path.home() / ".cache" / "cimp")
    key = hashlib.sha256(str(Path(dataset).resolve()).encode()).hexdigest()[:16]
    return root / "embeddings" / key


def _writable(folder: Path) -> bool:
    """Whether `folder` (or its nearest existing parent) accepts new files."""
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK)


def embed_dataset(
    run: str | Path | Run,
    dataset: str | Path,
    device: str = "auto",
    batch_size: int = 256,
    *,
    show_progress: bool = True,
) -> Embeddings:
    """Embed every image of the dataset not embedded yet by this run; return them all."""
    store = Store(dataset)  # first: a mistyped path must leave nothing behind
    table = store.table()
    run = as_run(run)
    folder = folder_for(run, dataset)
    done = set(_load_parts(folder)[0])
    crop = run.config.model.crop
    todo = table[~table["image_id"].isin(done)]
    todo = todo[views.fits(todo, crop)]
    if len(todo):  # the weights are loaded only when there is something to embed
        model, normalizer = run.load_model(resolve_device(device)), run.normalizer
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "run.json").exists():
            info = {"run": str(Path(run).resolve()), "crop": crop, "view": views.VIEW}
            write_json(folder / "run.json", info)
    with Bar("embed", len(todo), show_progress and len(todo) > 0) as bar:
        for start in range(0, len(todo), PART):
            rows = todo.iloc[start : start + PART]
            image = views.embed_images(model, store.images(rows["image_id"]), batch_size)
            meta = embed_metadata(model, normalizer, rows)
            _write_part(folder, rows["image_id"].to_numpy(str), image, meta)
            bar.advance(len(rows))
    return load(run, dataset, table)


def load(
    run: str | Path | Run, dataset: str | Path, table: pd.DataFrame | None = None
) -> Embeddings:
    """The stored embeddings of the dataset's rows (of `table`'s rows if given) by this run."""
    folder = folder_for(run, dataset)
    ids, image, meta = _load_parts(folder)
    if len(ids) == 0:
        raise CimpError(
            f"{dataset} holds no embeddings by {run}: run `cimp embed {run} {dataset}` first"
        )
    table = Store(dataset).table() if table is None else table
    position = pd.Series(np.arange(len(ids)), index=ids)
    table = table[table["image_id"].isin(position.index)].reset_index(drop=True)
    at = position[table["image_id"]].to_numpy()
    return Embeddings(table, image[at], meta[at], folder)


def embed_image(model, image: np.ndarray) -> np.ndarray:
    """The embedding of a whole image, read as the dataset's images are (`cimp.views`)."""
    try:
        return views.embed_images(model, [image])[0]
    except ValueError as err:
        raise CimpError(str(err)) from None


def embed_settings(model, normalizer: schema.Normalizer, settings: dict) -> np.ndarray:
    """The embedding of (partial) settings; fields not given are encoded as missing."""
    row = pd.DataFrame([settings])
    if not normalizer.encode(row)[1].any():
        used = ", ".join(normalizer.names)
        raise CimpError(f"none of {sorted(settings)} is read by this model; it reads: {used}")
    return embed_metadata(model, normalizer, row)[0]


@torch.no_grad()
def embed_metadata(
    model, normalizer: schema.Normalizer, table: pd.DataFrame, batch_size: int = 4096
) -> np.ndarray:
    """Metadata embeddings of a table's rows (missing fields encoded as missing)."""
    values, present = normalizer.encode(table)
    categories = normalizer.encode_categories(table)
    cats = np.stack(list(categories.values()), axis=1) if categories else np.zeros((len(table), 0))
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(table), batch_size):
        parts = (values[i : i + batch_size], present[i : i + batch_size], cats[i : i + batch_size])
        tensors = [torch.as_tensor(a).to(device) for a in parts]
        out.append(model.encode_meta(tensors[0], tensors[1], tensors[2].long()).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.embed_dim), np.float32)


def _load_parts(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = sorted(folder.glob("part-*.npz"))
    if not parts:
        return np.array([], dtype=str), np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    loaded = [np.load(p) for p in parts]
    ids = np.concatenate([p["image_id"] for p in loaded])
    image = np.concatenate([p["image"] for p in loaded])
    meta = np.concatenate([p["meta"] for p in loaded])
    _, first = np.unique(ids, return_index=True)  # a part written twice counts once
    first.sort()
    return ids[first], image[first], meta[first]


def _write_part(folder: Path, ids: np.ndarray, image: np.ndarray, meta: np.ndarray) -> None:
    part = folder / f"part-{uuid.uuid4().hex[:12]}.npz"
    with atomic_write(part) as tmp, open(tmp, "wb") as f:
        np.savez(f, image_id=ids, image=image.astype(np.float32), meta=meta.astype(np.float32))
