"""Process pools for simulation work that share the machine's cores.

Each worker keeps its BLAS and OpenMP pools to one thread: workers that each run a pool
of threads on the same cores oversubscribe them and run several times slower.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from cimp.progress import track


def one_thread() -> None:
    """Shrink this process's BLAS and OpenMP pools to one thread, for its whole life."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes, each on one thread."""
    return ProcessPoolExecutor(workers, initializer=one_thread)


def mapped(
    job: Callable, n: int, workers: int | None, label: str, *, show_progress: bool = False
) -> Iterator:
    """job(0), ..., job(n - 1) in order, with a progress bar: here when `workers` <= 1,
    else in a `pool` of that many processes (None: one per core)."""
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers <= 1:
        yield from track(map(job, range(n)), label, total=n, enabled=show_progress)
        return
    with pool(workers) as processes:
        done = processes.map(job, range(n), chunksize=8)
        yield from track(done, label, total=n, enabled=show_progress)
