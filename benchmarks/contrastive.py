"""The headline table on simulated data: retrieval and metadata recovery, with baselines.

Run: `make bench` or `.venv/bin/python benchmarks/contrastive.py [--n 6000 --steps 1500]
[--sampling archive|uniform] [--no-physics --positive-radius R --tag NAME]`. Simulates n
images (256 x 256) into a work folder, ingests them (70/10/20 split by scene, or by session
with archive sampling), trains, and evaluates on the held-out split (gallery of 1,000),
every image read whole. Writes the results, the command, the timings and the figures to
benchmarks/results/contrastive/ (archive) or contrastive-uniform/, with `-NAME` for a tag.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from cimp.config import TrainConfig
from cimp.evaluate import evaluate
from cimp.ingest import ingest
from cimp.simulator.files import write_run
from cimp.train import train

RESULTS = {
    "uniform": Path(__file__).parent / "results" / "contrastive-uniform",
    "archive": Path(__file__).parent / "results" / "contrastive",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--widths", default="24,48,96,192")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cimp-benchmark"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sampling", choices=tuple(RESULTS), default="archive")
    parser.add_argument("--physics", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--positive-radius", type=float, default=0.0, help="multi-positives")
    parser.add_argument("--supervised-steps", type=int, default=None, help="default: --steps")
    parser.add_argument("--tag", default="", help="results folder suffix (an ablation)")
    args = parser.parse_args()
    out = RESULTS[args.sampling]
    out = out.with_name(f"{out.name}-{args.tag}") if args.tag else out
    args.workdir = args.workdir.with_name(f"{args.workdir.name}-{args.sampling}")

    timings = {}
    start = time.perf_counter()
    write_run(args.workdir / "raw", args.n, 256, seed=100, workers=2, sampling=args.sampling)
    timings["simulate_s"] = time.perf_counter() - start
    start = time.perf_counter()
    splits = {"train": 0.7, "val": 0.1, "test": 0.2}
    ingest([args.workdir / "raw"], args.workdir / "dataset", splits, workers=2)
    timings["ingest_s"] = time.perf_counter() - start

    run = args.workdir / (f"run-{args.tag}" if args.tag else "run")
    shutil.rmtree(run, ignore_errors=True)
    config = TrainConfig(
        dataset=str(args.workdir / "dataset"),
        out=str(run),
        steps=args.steps,
        batch_size=args.batch_size,
        crop=args.crop,
        lr=args.lr,
        device=args.device,
        widths=[int(w) for w in args.widths.split(",")],
        physics=args.physics,
        positive_radius=args.positive_radius,
        val_every=max(args.steps // 6, 1),
    )
    config.checkpoint_every = config.val_every
    start = time.perf_counter()
    train(config)
    timings["train_s"] = time.perf_counter() - start
    start = time.perf_counter()
    results = evaluate(
        run, args.workdir / "dataset", out, args.supervised_steps, device=args.device
    )
    timings["evaluate_s"] = time.perf_counter() - start

    results["command"] = " ".join(["python", "benchmarks/contrastive.py", *sys.argv[1:]])
    results["config"] = json.loads((run / "config.json").read_text())
    results["timings"] = {k: round(v, 1) for k, v in timings.items()}
    log = (run / "log.jsonl").read_text().splitlines()
    results["validation_log"] = [json.loads(line) for line in log]
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()
