"""Recall of the approximate vector index against exact search, and the time each takes.

Run: `.venv/bin/python benchmarks/index_recall.py [--n 1000000]`. Clustered unit vectors of
128 dimensions (as image embeddings are: many images of few kinds), 1,000 queries drawn
from the set; recall@10 = share of the exact 10 nearest that the IVF index returns, with
and without a filter that keeps half of the rows. Writes results/index/results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from cimp.index import NPROBE, VectorIndex, exact_search

RESULT = Path(__file__).parent / "results" / "index" / "results.json"


def clustered(n: int, d: int, clusters: int, rng) -> np.ndarray:
    centres = rng.normal(size=(clusters, d))
    x = centres[rng.integers(clusters, size=n)] + rng.normal(size=(n, d))  # clusters overlap
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = clustered(args.n, 128, 2000, rng)
    queries = vectors[rng.choice(args.n, args.queries, replace=False)]
    allowed = rng.random(args.n) < 0.5

    tick = time.perf_counter()
    index = VectorIndex(vectors, exact_below=0)
    build = time.perf_counter() - tick
    result = {"command": " ".join(["python", *sys.argv]), "n": args.n, "dim": 128,
              "queries": args.queries, "nprobe": NPROBE, "lists": index.index.nlist,
              "build_s": round(build, 2)}  # fmt: skip
    for name, mask in (("all rows", None), ("half the rows (filter)", allowed)):
        rows = np.flatnonzero(mask) if mask is not None else None
        subset = vectors if mask is None else vectors[mask]
        tick = time.perf_counter()
        _, truth = exact_search(subset, queries, 10, rows)
        exact_s = time.perf_counter() - tick
        tick = time.perf_counter()
        _, found = index.search(queries, 10, mask)
        approx_s = time.perf_counter() - tick
        result[name] = {
            "recall_at_10": round(recall(found, truth), 4),
            "exact_ms_per_query": round(1000 * exact_s / args.queries, 3),
            "ivf_ms_per_query": round(1000 * approx_s / args.queries, 3),
            "speed_up": round(exact_s / approx_s, 1),
        }
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
