"""Torch datasets over a Store: random crops (never resizing), flips, field dropout.

Intensities are multiplied by one fixed factor per run (`intensity_scale`, chosen from the
training images and saved with the model), never by per-image statistics nor by the dtype
at hand, so gain, offset and clipping stay readable and the same counts give the same input
whether a file stores them as uint16, uint32, int32 or float32. Every random choice is drawn from a
seed that the sampler hands over with the index, so a run is reproducible whatever the
number of loader workers, and a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from cimp import views
from cimp.errors import CimpError
from cimp.schema import Normalizer
from cimp.store import Store

DEFAULT_SCALE = 1.0 / 65535  # a run that records no scale was trained on uint16 data
SCALE_SAMPLE = 200


def intensity_scale(store: Store, table: pd.DataFrame) -> float:
    """The factor a run multiplies every image's counts by, from its training images: the
    range of their integer type when every image is an integer of at most 16 bits (a
    detector's ADC range), else 1 / the 99.9th percentile of a sample of their pixels."""
    dtypes = {np.dtype(d) for d in table["dtype"]}
    if dtypes and all(d.kind in "ui" and d.itemsize <= 2 for d in dtypes):
        return 1.0 / max(np.iinfo(d).max for d in dtypes)
    step = max(1, len(table) // SCALE_SAMPLE)
    sample = [store.image(i).ravel()[::97] for i in table["image_id"].iloc[::step]]
    values = np.concatenate(sample).astype(np.float64) if sample else np.ones(1)
    top = float(np.nanpercentile(values, 99.9))
    return 1.0 / top if top > 0 else DEFAULT_SCALE


def crop_image(image: np.ndarray, size: int, rng: np.random.Generator | None) -> np.ndarray:
    """A size x size window: random with rng, else centred."""
    h, w = image.shape
    if rng is None:
        top, left = (h - size) // 2, (w - size) // 2
    else:
        top, left = rng.integers(h - size + 1), rng.integers(w - size + 1)
    return image[top : top + size, left : left + size]


@dataclass
class Batch:
    image: torch.Tensor  # (B, 1, crop, crop) float32
    values: torch.Tensor  # (B, F) z-scored fields, 0 where missing
    present: torch.Tensor  # (B, F) bool
    categories: torch.Tensor  # (B, C) int64, 0 = unknown
    index: torch.Tensor  # (B,) row in the dataset's table

    def to(self, device) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in vars(self).values()))


class CropDataset(Dataset):
    """Crops of a table's images with their encoded metadata; items are (row, seed) pairs."""

    def __init__(
        self,
        store: Store,
        table: pd.DataFrame,
        normalizer: Normalizer,
        crop: int,
        *,
        train: bool = False,
        field_dropout: float = 0.0,
        cache_bytes: float = 4e9,
        scale: float = DEFAULT_SCALE,
    ):
        big_enough = views.fits(table, crop)
        self.table = table[big_enough].reset_index(drop=True)
        self.skipped_small = int((~big_enough).sum())
        self.store, self.crop, self.train, self.scale = store, crop, train, scale
        self.field_dropout = field_dropout
        self.values, self.present = normalizer.encode(self.table)
        cats = normalizer.encode_categories(self.table)
        self.categories = (
            np.stack(list(cats.values()), axis=1)
            if cats
            else np.zeros((len(self.table), 0), dtype=np.int64)
        )
        # hold the split in memory when it fits; otherwise read each crop from the zarr store
        itemsize = np.array([np.dtype(d).itemsize for d in self.table["dtype"]], dtype=float)
        size = float(np.sum(self.table["height"] * self.table["width"] * itemsize))
        fits = size <= cache_bytes
        self._images = list(store.images(self.table["image_id"])) if fits else None

    def __len__(self) -> int:
        return len(self.table)

    def image(self, row: int) -> np.ndarray:
        if self._images is not None:
            return self._images[row]
        return self.store.image(self.table["image_id"].iat[row])

    def __getitem__(self, item: tuple[int, int] | int):
        row, seed = item if isinstance(item, tuple) else (item, 0)
        rng = np.random.default_rng(seed) if self.train else None
        raw = self.image(row)
        image = crop_image(raw, self.crop, rng).astype(np.float32) * np.float32(self.scale)
        present = self.present[row].copy()
        if rng is not None:
            if rng.random() < 0.5:
                image = image[:, ::-1]
            if rng.random() < 0.5:
                image = image[::-1, :]
            present = drop_fields(present, self.field_dropout, rng)
        return (
            torch.from_numpy(np.ascontiguousarray(image))[None],
            torch.from_numpy(self.values[row]),
            torch.from_numpy(present),
            torch.from_numpy(self.categories[row]),
            row,
        )


def drop_fields(present: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Hide each present field with probability p, always keeping at least one."""
    keep = present & (rng.random(present.shape) >= p)
    if not keep.any() and present.any():
        keep[rng.choice(np.flatnonzero(present))] = True
    return keep


def collate(items: Sequence) -> Batch:
    images, values, present, cats, rows = zip(*items, strict=True)
    return Batch(
        torch.stack(images),
        torch.stack(values),
        torch.stack(present),
        torch.stack(cats),
        torch.as_tensor(rows),
    )


class StepSampler(Sampler):
    """Batches for steps start..total-1: epoch-wise permutations drawn from (seed, epoch).

    Each item comes with its own seed (seed, step, position) for crops and dropout. With
    `rank`/`world` every process takes its slice of the same global batch.
    """

    def __init__(
        self,
        n: int,
        batch: int,
        total: int,
        seed: int,
        *,
        start: int = 0,
        rank: int = 0,
        world: int = 1,
    ):
        if n < batch:
            raise CimpError(f"the training split has {n} images, fewer than a batch ({batch})")
        self.n, self.batch, self.total, self.seed = n, batch, total, seed
        self.start, self.rank, self.world = start, rank, world

    def __len__(self) -> int:
        return self.total - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        per_epoch = self.n // self.batch
        for step in range(self.start, self.total):
            epoch, k = divmod(step, per_epoch)
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            rows = order[k * self.batch : (k + 1) * self.batch]
            local = np.array_split(np.arange(self.batch), self.world)[self.rank]
            yield [(int(rows[i]), hash_seed(self.seed, step, int(i))) for i in local]


def hash_seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])
