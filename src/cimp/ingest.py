"""Ingest: walk folders, read every file through cimp.io, add new images to a Store.

Never stops on a bad file: each one is reported with a reason. Idempotent (files are known
by content hash; a changed file is read again) and resumable (rows are written in atomic
parts after their images).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cimp import io
from cimp.progress import track
from cimp.store import Store, content_id, file_hash


@dataclass
class IngestReport:
    """What an ingest run did."""

    files_read: int = 0
    images_added: int = 0
    files_known: int = 0  # already in the dataset, unchanged
    duplicates: int = 0  # images already stored from another file
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def discover(sources: Iterable[str | Path]) -> Iterator[Path]:
    """Every file under the sources (files or folders), recursively, in a stable order.

    Symbolic links to folders are not followed, so link loops cannot trap the walk.
    """
    for source in sources:
        source = Path(source)
        if source.is_dir():
            for folder, dirs, files in os.walk(source):
                dirs.sort()
                for name in sorted(files):
                    yield Path(folder) / name
        else:
            yield source


def ingest(
    sources: Iterable[str | Path],
    dataset: str | Path,
    splits: dict[str, float] | None = None,
    batch_size: int = 32,
    workers: int = 1,
    show_progress: bool = True,
) -> IngestReport:
    """Add the images of every readable file under `sources` to the dataset at `dataset`.

    `workers` processes hash and read files; this process alone writes the store.
    """
    store = Store(dataset, splits, create=True)
    known_files = store.known_files()
    known_images = set(store.table()["image_id"])
    report = IngestReport()
    files = list(discover(sources))
    rows: list[dict] = []
    ledger: list[dict] = []
    with _loader(workers, known_files) as load:
        loaded = track(load(files), "ingest", total=len(files), enabled=show_progress)
        for path, digest, content in loaded:
            if isinstance(content, str):
                report.skipped.append((str(path), content))
                continue
            if content is None or digest in known_files:
                report.files_known += 1
                continue
            report.files_read += 1
            known_files.add(digest)
            added = 0
            for record in content:
                image_id = content_id(record.image)
                if image_id in known_images:
                    continue
                store.put_image(record.image)
                known_images.add(image_id)
                rows.append(store.row(record, image_id, digest))
                added += 1
            report.images_added += added
            report.duplicates += len(content) - added
            ledger.append(
                {
                    "source": str(path),
                    "source_hash": digest,
                    "images": added,
                    "duplicates": len(content) - added,
                }
            )
            if len(ledger) >= batch_size:
                store.append(rows, ledger)
                rows, ledger = [], []
    store.append(rows, ledger)
    store.compact()
    _write_skipped(store.root / "skipped.csv", report.skipped)
    return report


_KNOWN: set[str] = set()


def _load(path: Path) -> tuple[Path, str | None, list[io.Record] | str | None]:
    """(path, content hash, records) - or a reason string instead of records, or None when
    the file is already in the dataset."""
    try:
        digest = file_hash(path)
    except OSError as err:
        return path, None, f"cannot open: {err.strerror or err}"
    if digest in _KNOWN:
        return path, digest, None
    try:
        return path, digest, io.read(path)
    except io.UnreadableFile as err:
        return path, digest, str(err)


def _remember(known: set[str]) -> None:
    global _KNOWN
    _KNOWN = known


@contextmanager
def _loader(workers: int, known: set[str]):
    """A function mapping _load over paths, in order: in this process, or in a pool."""
    _remember(set(known))
    if workers <= 1:
        yield lambda paths: map(_load, paths)
        return
    with ProcessPoolExecutor(workers, initializer=_remember, initargs=(set(known),)) as pool:
        yield lambda paths: pool.map(_load, paths, chunksize=4)


def _write_skipped(path: Path, skipped: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "reason"])
        writer.writerows(skipped)
