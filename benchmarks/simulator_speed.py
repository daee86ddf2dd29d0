"""Simulator throughput: images per second at 256 x 256, with and without writing.

Run: `make bench-sim` (or `.venv/bin/python benchmarks/simulator_speed.py`). Pins BLAS and
OpenMP to one thread before numpy loads. A fixed numpy workload timed in the same process
(`reference_ms`) lets runs on other machines be compared as ratios. The command line
(`cimp simulate`, start-up and .hspy files included) is timed with its default workers (one
per core) beside one worker, in the same script.
"""

from __future__ import annotations

import os

os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cimp.simulator import simulate
from cimp.simulator.crystals import library
from cimp.simulator.files import write_run

OUT = Path(__file__).parent / "results" / "simulator" / "results.json"


def reference_ms(repeats: int = 50) -> float:
    """A fixed workload: 256x256 complex FFT + matrix product, in ms."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256))
    start = time.perf_counter()
    for _ in range(repeats):
        np.fft.fft2(a)
        a @ a
    return (time.perf_counter() - start) / repeats * 1e3


def images_per_second(n: int, size: int) -> float:
    simulate(0, 0, size)  # warm caches (crystal library, FFT plans)
    start = time.perf_counter()
    for i in range(n):
        simulate(1, i, size)
    return n / (time.perf_counter() - start)


def files_per_second(n: int, size: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_run(tmp, n, size, seed=2, show_progress=False)
        return n / (time.perf_counter() - start)


def command_per_second(n: int, size: int, *workers: str) -> float:
    """`cimp simulate` as a user runs it: start-up, simulation and files, end to end."""
    cli = [sys.executable, "-m", "cimp.cli", "simulate"]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        args = [*cli, tmp, "--n", str(n), "--size", str(size), "--seed", "3", *workers]
        subprocess.run(args, check=True, capture_output=True, env=env)
        return n / (time.perf_counter() - start)


def main(n: int = 500, size: int = 256) -> None:
    library()
    result = {
        "command": "python benchmarks/simulator_speed.py",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "threads": 1,
        "size": size,
        "images": n,
        "reference_ms": round(reference_ms(), 3),
        "images_per_second": round(images_per_second(n, size), 1),
        "files_per_second_hspy": round(files_per_second(n // 5, size), 1),
        "cores": os.cpu_count(),
        "command_images": 2 * n,
        "command_per_second_one_worker": round(
            command_per_second(2 * n, size, "--workers", "1"), 1
        ),
        "command_per_second_default": round(command_per_second(2 * n, size), 1),
        "target_images_per_second": 50,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
