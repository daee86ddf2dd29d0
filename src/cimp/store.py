"""A dataset on disk: images in a zarr v3 store, one Parquet row per image, splits by session.

    DATASET/
      dataset.json          format version and split fractions
      images.zarr/<id>      one chunked (sharded) array per image, keyed by its content hash
      records/*.parquet     the table, written in atomic parts (so a killed ingest loses nothing)
      files/*.parquet       every file read so far (path, content hash, images taken)
      skipped.csv           files the last ingest could not take, with the reason

Rows are only written after their images, so a part on disk always points at stored images;
re-reading the table drops duplicate image ids, so an interrupted compaction is harmless.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from cimp import schema
from cimp.atomic import atomic_write
from cimp.errors import CimpError
from cimp.io.record import Record

FORMAT_VERSION = 1
DEFAULT_SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}
CHUNK = 256
BASE_COLUMNS = [
    "image_id",
    "source",
    "source_hash",
    "frame",
    "session",
    "split",
    "height",
    "width",
    "dtype",
    "provenance",
    "extra",
]
FILE_COLUMNS = ["source", "source_hash", "images", "duplicates"]


class Store:
    """Open the dataset directory `root`; with `create`, make it if it is not there yet."""

    def __init__(
        self, root: str | Path, splits: dict[str, float] | None = None, create: bool = False
    ):
        self.root = Path(root)
        info_path = self.root / "dataset.json"
        if not info_path.exists() and not create:
            raise CimpError(
                f"{self.root} is not a cimp dataset (no dataset.json); make one with `cimp ingest`"
            )
        if info_path.exists():
            self.info = json.loads(info_path.read_text())
            if splits is not None and splits != self.info["splits"]:
                raise CimpError(
                    f"{self.root} was created with splits {self.info['splits']}, not {splits}"
                )
        else:
            if self.root.exists() and any(self.root.iterdir()):
                raise CimpError(f"{self.root} exists and is not a cimp dataset")
            self.info = {
                "format": "cimp-dataset",
                "version": FORMAT_VERSION,
                "splits": splits or DEFAULT_SPLITS,
            }
            _check_splits(self.info["splits"])
            (self.root / "records").mkdir(parents=True, exist_ok=True)
            _atomic_write(info_path, json.dumps(self.info, indent=2).encode())
        self._images = zarr.open_group(self.root / "images.zarr", mode="a")

    @property
    def splits(self) -> dict[str, float]:
        return dict(self.info["splits"])

    # --- writing ---------------------------------------------------------------------------

    def put_image(self, image: np.ndarray) -> str:
        """Store an image under its content hash and return that id (idempotent)."""
        image_id = content_id(image)
        chunks = tuple(min(CHUNK, n) for n in image.shape)
        shards = tuple(-(-n // c) * c for n, c in zip(image.shape, chunks, strict=True))
        array = self._images.create_array(
            image_id,
            shape=image.shape,
            dtype=image.dtype,
            chunks=chunks,
            shards=shards if shards != chunks else None,
            overwrite=True,
        )
        array[...] = image
        return image_id

    def append(self, rows: list[dict], files: list[dict]) -> None:
        """Record rows of new images, then the files they came from (each atomically)."""
        if rows:
            _write_part(self.root / "records", _typed(pd.DataFrame(rows)))
        if files:
            _write_part(self.root / "files", pd.DataFrame(files, columns=FILE_COLUMNS))

    def known_files(self) -> set[str]:
        """Content hashes of every file already read (its images stored or duplicates)."""
        return set(self.files()["source_hash"]) | set(self.table()["source_hash"].dropna())

    def row(self, record: Record, image_id: str, source_hash: str) -> dict:
        """The table row of a stored record."""
        row = {
            "image_id": image_id,
            "source": record.source,
            "source_hash": source_hash,
            "frame": record.frame,
            "session": record.session or record.source,
            "split": split_of(record.session or record.source, self.splits),
            "height": record.image.shape[0],
            "width": record.image.shape[1],
            "dtype": str(record.image.dtype),
            "provenance": json.dumps(record.provenance),
            "extra": json.dumps(record.extra),
        }
        row.update({name: record.metadata.get(name) for name in schema.BY_NAME})
        return row

    def compact(self) -> None:
        """Merge each folder's parts into one (duplicates dropped); safe to interrupt."""
        for folder, read in (("records", self.table), ("files", self.files)):
            parts = _parts(self.root / folder)
            if len(parts) > 1:
                _write_part(self.root / folder, read())
                for part in parts:
                    part.unlink()

    # --- reading ---------------------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        """One row per image: canonical fields (NaN where missing), source, hash, split..."""
        parts = _parts(self.root / "records")
        if not parts:
            return _typed(pd.DataFrame(columns=BASE_COLUMNS + list(schema.BY_NAME)))
        table = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        table = table.drop_duplicates("image_id", keep="first")
        return table.sort_values(["source", "frame"], kind="stable").reset_index(drop=True)

    def files(self) -> pd.DataFrame:
        """Every file read so far: source path, content hash, images taken, duplicates."""
        parts = _parts(self.root / "files")
        if not parts:
            return pd.DataFrame(columns=FILE_COLUMNS)
        files = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        return files.drop_duplicates("source_hash", keep="first").reset_index(drop=True)

    def image(self, image_id: str) -> np.ndarray:
        return self._images[image_id][...]

    def images(self, ids: Iterable[str]) -> Iterable[np.ndarray]:
        for image_id in ids:
            yield self.image(image_id)


def content_id(image: np.ndarray) -> str:
    """Hash of the pixels, shape and dtype: the same image always gets the same id."""
    h = hashlib.sha256()
    h.update(f"{image.dtype.str}{image.shape}".encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()[:24]


def file_hash(path: str | Path, block: int = 1 << 20) -> str:
    """sha256 of a file's bytes (a changed file gets a new hash and is read again)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()[:24]


def split_of(session: str, splits: dict[str, float]) -> str:
    """Deterministic split of a session: whole sessions (series, scenes) never straddle."""
    u = int(hashlib.sha256(session.encode()).hexdigest()[:12], 16) / 16**12
    edge = 0.0
    for name, fraction in splits.items():
        edge += fraction
        if u < edge:
            return name
    return name


def _check_splits(splits: dict[str, float]) -> None:
    if abs(sum(splits.values()) - 1.0) > 1e-6 or min(splits.values()) < 0:
        raise CimpError(f"split fractions must be >= 0 and sum to 1, got {splits}")


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Fixed column types: numeric fields float64 (NaN = missing), the rest strings."""
    for name in schema.BY_NAME:
        if name not in table:
            table[name] = None
    for name in schema.NUMERIC_NAMES:
        table[name] = pd.to_numeric(table[name], errors="coerce").astype("float64")
    text = [n for n in schema.BY_NAME if n not in schema.NUMERIC_NAMES]
    for name in [
        *text,
        "image_id",
        "source",
        "source_hash",
        "session",
        "split",
        "dtype",
        "provenance",
        "extra",
    ]:
        table[name] = table[name].astype("string")
    for name in ["frame", "height", "width"]:
        table[name] = table[name].astype("int64")
    return table[BASE_COLUMNS + list(schema.BY_NAME)]


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def _write_part(folder: Path, table: pd.DataFrame) -> None:
    folder.mkdir(exist_ok=True)
    part = folder / f"part-{uuid.uuid4().hex[:12]}.parquet"
    with atomic_write(part) as tmp:
        table.to_parquet(tmp, index=False)


def _atomic_write(path: Path, data: bytes) -> None:
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
