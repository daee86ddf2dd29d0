"""Process pools for simulation work that share the machine's cores.

Each worker keeps its BLAS and OpenMP pools to one thread: two workers each running two
threads on two cores were 2-3.5x slower than the same workers on one thread each (the
digital twin's cases: 5.0 s against 1.4 s for 200).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor


def one_thread() -> None:
    """Shrink this process's BLAS and OpenMP pools to one thread, for its whole life."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes, each on one thread."""
    return ProcessPoolExecutor(workers, initializer=one_thread)
