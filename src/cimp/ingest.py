"""Ingest: walk folders, read every file through cimp.io, add new images to a Store.

Never stops on a bad file: each one is reported with a reason. Every file is hashed first,
then only files whose content the dataset does not hold yet are read. Idempotent (files
are known by content hash; a changed file is read again) and resumable (rows are written in atomic
parts after their images; a file enters the ledger once all its images are stored).
Very large containers (the CIMP HDF5 layout) are read part by part, spread over the workers.
Ctrl-C stops it at once: the workers (which ignore SIGINT) are terminated, what was read is
kept, and the report says it was interrupted; the same command resumes. Images that cimp
itself wrote (dose transfers) are no acquisitions: skipped unless `include_derived`.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import re
import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from cimp import io
from cimp.domain import origin
from cimp.errors import CimpError
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
    interrupted: bool = False  # stopped by Ctrl-C: what was read is kept, a re-run resumes

    def reasons(self) -> list[tuple[str, int, str]]:
        """(reason, files, an example path) per kind of reason, most frequent first;
        file-specific details in parentheses are left out of the grouping."""
        groups: dict[str, list[str]] = {}
        for path, reason in self.skipped:
            groups.setdefault(re.sub(r" ?\([^)]*\)", "", reason), []).append(path)
        ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        return [(reason, len(paths), paths[0]) for reason, paths in ranked]


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
    *,
    workers: int = 1,
    show_progress: bool = True,
    include_derived: bool = False,
) -> IngestReport:
    """Add the images of every readable file under `sources` to the dataset at `dataset`.

    `workers` processes hash and read files; this process alone writes the store.
    """
    missing = [str(s) for s in sources if not Path(s).exists()]
    if missing:
        raise CimpError(f"no such file or folder: {', '.join(missing)}")
    if Path(dataset).is_file():
        raise CimpError(f"{dataset} is a file: give a folder for the dataset")
    store = Store(dataset, splits, create=True)
    writer = _Writer(store, batch_size)
    report = writer.report
    files = list(discover(sources))
    known_files = store.known_files()
    large: list[Loaded] = []
    load = partial(_load, include_derived=include_derived)
    try:
        with _pool(workers) as run:
            todo = _new_files(run, files, known_files, report, show=show_progress)
            for found in track(run(load, todo, 4), "ingest", len(todo), show_progress):
                if found.skipped:
                    report.skipped.append((str(found.path), found.skipped))
                elif found.digest in known_files:  # a copy of a file read in this run
                    report.files_known += 1
                elif found.parts > 1:
                    large.append(found)
                else:
                    known_files.add(found.digest)
                    writer.take(found.path, found.digest, found.records, last=True)
            for found in large:
                path, n = found.path, found.parts
                parts = run(_load_part, [(path, part) for part in range(n)], 1)
                for part, content in track(parts, path.name, n, show_progress):
                    if isinstance(content, str):
                        report.skipped.append((f"{path} (part {part + 1} of {n})", content))
                        content = []
                    writer.take(path, found.digest, content, last=part == n - 1)
    except KeyboardInterrupt:
        report.interrupted = True
    with _deaf_to_ctrl_c():  # a second Ctrl-C must not lose what was read
        writer.flush()
        if not report.interrupted:
            store.compact()
        _write_skipped(store.root / "skipped.csv", report.skipped)
    return report


@contextmanager
def _deaf_to_ctrl_c():
    """SIGINT ignored for the block (in the main thread; elsewhere nothing changes)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals cannot be set here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Writer:
    """Stores images as they come, and writes their rows (and the ledger entry of each
    file once all its images are stored) in batches."""

    def __init__(self, store: Store, batch_size: int):
        self.store, self.batch_size = store, batch_size
        self.known_images = set(store.table()["image_id"])
        self.report = IngestReport()
        self.rows: list[dict] = []
        self.ledger: list[dict] = []
        self.current: dict | None = None

    def take(self, path: Path, digest: str, records: list[io.Record], last: bool) -> None:
        if self.current is None:
            self.current = {"source": str(path), "source_hash": digest, "images": 0}
            self.current["duplicates"] = 0
            self.report.files_read += 1
        for record in records:
            image_id = content_id(record.image)
            if image_id in self.known_images:
                self.current["duplicates"] += 1
                continue
            self.store.put_image(record.image)
            self.known_images.add(image_id)
            self.rows.append(self.store.row(record, image_id, digest))
            self.current["images"] += 1
        if last:
            self.report.images_added += self.current["images"]
            self.report.duplicates += self.current["duplicates"]
            self.ledger.append(self.current)
            self.current = None
        if len(self.rows) >= self.batch_size or len(self.ledger) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        self.store.append(self.rows, self.ledger)
        self.rows, self.ledger = [], []


DERIVED = "written by cimp (a dose transfer), not an acquisition: ingest --include-derived takes it"


@dataclass
class Loaded:
    """What a worker found in one new file: its records, or why it gives none, or (a very
    large container) how many parts to read it in."""

    path: Path
    digest: str
    records: list[io.Record] = field(default_factory=list)
    skipped: str = ""
    parts: int = 1


def _new_files(run, files: list[Path], known: set[str], report: IngestReport, *, show: bool):
    """(path, content hash) of every file whose content the dataset does not hold; the
    rest counted as known, or skipped when they cannot be opened. Copies of one new file
    are all read: the first stored makes the others known, an unreadable one skips them."""
    todo = []
    for path, digest, error in track(run(_hash, files, 16), "hash", len(files), show):
        if error:
            report.skipped.append((str(path), error))
        elif digest in known:
            report.files_known += 1
        else:
            todo.append((path, digest))
    return todo


def _hash(path: Path) -> tuple[Path, str, str]:
    """(path, content hash, "") or (path, "", why it cannot be opened)."""
    try:
        return path, file_hash(path), ""
    except OSError as err:
        return path, "", f"cannot open: {err.strerror or err}"


def _load(item: tuple[Path, str], include_derived: bool = False) -> Loaded:
    path, digest = item
    try:
        n = io.parts(path)
        if n > 1:
            return Loaded(path, digest, parts=n)
        records = io.read(path)
        if not include_derived and all(origin(r.extra) == "derived" for r in records):
            return Loaded(path, digest, skipped=DERIVED)
        return Loaded(path, digest, records)
    except io.UnreadableFile as err:
        return Loaded(path, digest, skipped=str(err))
    except OSError as err:
        return Loaded(path, digest, skipped=f"cannot read: {err.strerror or err}")


def _load_part(task: tuple[Path, int]) -> tuple[int, list[io.Record] | str]:
    path, part = task
    try:
        return part, io.read(path, part)
    except io.UnreadableFile as err:
        return part, str(err)


def _start_worker() -> None:
    """A worker leaves Ctrl-C to the main process, which terminates it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _pool(workers: int):
    """run(fn, items, chunksize): fn mapped over items in order, here or in processes.
    On any exception (Ctrl-C among them) the workers are terminated, not waited for."""
    if workers <= 1:
        yield lambda fn, items, chunksize: map(fn, items)
        return
    pool = multiprocessing.get_context("fork").Pool(workers, _start_worker)

    def run(fn: Callable, items: list, chunksize: int) -> Iterator:
        return pool.imap(fn, items, chunksize)

    try:
        yield run
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _write_skipped(path: Path, skipped: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "reason"])
        writer.writerows(skipped)
