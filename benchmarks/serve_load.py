"""Thumbnail latency of `cimp serve` on loopback: 200 requests, cold (made and cached) and
warm (from the cache), four at a time, as a browser's grid asks for them; and the grid
page's latency (filtered, sorted, one page) on a table of 100,000 rows (the dataset's
rows repeated in memory).

    .venv/bin/python benchmarks/serve_load.py [DATASET]   (default: demo-output/dataset)

Writes results/serve/results.json: p50, p95 and max latency (ms) of each pass.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "serve" / "results.json"
REQUESTS, CONCURRENCY = 200, 4


def serve(dataset: str, cache: Path, rows: int | None = None) -> tuple[int, object]:
    import pandas as pd
    import uvicorn

    from cimp.serve.app import create_app
    from cimp.serve.archive import Archive

    archive = Archive(dataset, cache=cache)
    if rows:
        table = archive.table
        archive.table = pd.concat([table] * (rows // len(table) + 1)).iloc[:rows]
        archive.table = archive.table.reset_index(drop=True)
    app = create_app(archive)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return port, server


def timed(port: int, path: str) -> float:
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, (path, response.status)
    connection.close()
    return 1000 * (time.perf_counter() - start)


def summary(ms: list[float]) -> dict:
    return {
        "requests": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "max_ms": round(float(np.max(ms)), 2),
    }


def main() -> None:
    from cimp.store import Store

    dataset = sys.argv[1] if len(sys.argv) > 1 else "demo-output/dataset"
    ids = Store(dataset).table()["image_id"].tolist()[:REQUESTS]
    with tempfile.TemporaryDirectory() as cache:
        port, server = serve(dataset, Path(cache))
        passes = {}
        for name in ("cold", "warm"):
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                ms = list(pool.map(lambda i: timed(port, f"/thumb/{i}.png"), ids))
            passes[name] = summary(ms)
        server.should_exit = True
        port, server = serve(dataset, Path(cache), rows=100_000)
        grid = "/?where=dwell_time%3E1us&sort=-pixel_size&offset=5000&limit=60"
        passes["grid page, 100,000 rows"] = summary([timed(port, grid) for _ in range(20)])
        server.should_exit = True
    result = {
        "command": " ".join(["python", *sys.argv]),
        "dataset": dataset,
        "images": len(Store(dataset).table()),
        "concurrency": CONCURRENCY,
        "passes": passes,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
