"""A vector index over L2-normalised embeddings (faiss, inner product = cosine).

Exact (a flat index) below `exact_below` vectors; above it an inverted-file index (IVF-Flat)
that scans `nprobe` of its lists, whose recall against exact search is measured by
benchmarks/index_recall.py. A filter (a boolean mask over the rows) is honoured exactly:
when it leaves few rows they are searched exhaustively, otherwise faiss skips the others.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

EXACT_BELOW = 100_000
NPROBE = 32


class VectorIndex:
    """Search the rows of `vectors` (N, D) by cosine similarity."""

    def __init__(self, vectors: np.ndarray, exact_below: int = EXACT_BELOW, nprobe: int = NPROBE):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, d = self.vectors.shape
        self.exact_below, self.nprobe = exact_below, nprobe
        self.approximate = n >= exact_below
        if self.approximate:
            lists = max(1, int(math.sqrt(n)))
            self.index = faiss.IndexIVFFlat(
                faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT
            )
            sample = np.random.default_rng(0).permutation(n)[: 64 * lists]
            self.index.train(self.vectors[np.sort(sample)])
            self.index.nprobe = nprobe
        else:
            self.index = faiss.IndexFlatIP(d)
        self.index.add(self.vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, rows), each (Q, k), best first; row -1 where fewer than k qualify."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, k)
        if allowed is None:
            return self.index.search(queries, k)
        rows = np.flatnonzero(allowed)
        if not self.approximate or len(rows) < self.exact_below:
            return exact_search(self.vectors[rows], queries, k, rows)
        bitmap = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
        return self.index.search(queries, k, params=params)  # bitmap and selector alive here


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k by inner product; `rows` renames the vectors' positions."""
    flat = faiss.IndexFlatIP(queries.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    scores, found = flat.search(queries, k)
    if rows is not None:
        found = np.where(found >= 0, rows[np.maximum(found, 0)], -1)
    return scores, found
