"""The physics ceiling: how much of each field whole images carry, measured without deep learning.

Run: `make bench-ceiling` or `.venv/bin/python benchmarks/ceiling.py [--n 10000 --size 256]`.
For each sampling (uniform: every setting drawn alone; archive: sessions from the default
instrument profile), n images are simulated in memory with their noise-free expectation. Per
image: cimp's hand-crafted statistics (intensity quantiles, clipping, noise, scan-axis
correlations, radial power spectrum) plus a photon-transfer curve (noise variance against
signal in 16 px blocks, from second differences along the slow axis) and row statistics
(line-to-line jitter). Gradient boosting per core field, trained on 70 % of the sessions,
scored on the rest: R2 in the modelled space (log10 for scale-like fields) overall and by
regime (pixel size < 0.03 / 0.03-0.3 / > 0.3 nm; SNR < 3 vs >= 3, SNR = spread of the
noise-free image over the noise's), and the retrieval top-1 (gallery 1,000, both ways) that
the recovered fields give when used as an embedding (each field divided by its RMSE).
Writes results/ceiling/results.json and results.md.

`--dataset DATASET` instead measures the same estimator on a dataset's own images (fit on its
train split, scored on its test split: the contrastive benchmark's images, so its R2 stand
beside the model's on the same images) and writes results/ceiling/same-images.{json,md}
(or --name).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import GroupShuffleSplit

from cimp import schema
from cimp.baselines import handcrafted_features
from cimp.instrument.profile import default
from cimp.simulator import simulate
from cimp.store import Store
from cimp.workers import pool as workers_pool

RESULTS = Path(__file__).parent / "results" / "ceiling"
BLOCK = 16
PT_BINS = 8
PIXEL_REGIMES = {"pixel < 0.03 nm": (0, 0.03), "0.03-0.3 nm": (0.03, 0.3), "> 0.3 nm": (0.3, 1e9)}


def photon_transfer(image: np.ndarray) -> np.ndarray:
    """Noise variance (lower quartile, log) in bins of block mean, and the bins' means."""
    x = image.astype(np.float64)
    h, w = (s - s % BLOCK for s in x.shape)
    second = (x[2:h] - 2 * x[1 : h - 1] + x[: h - 2])[: h - BLOCK] / np.sqrt(6.0)
    n = second.shape[0] // BLOCK
    tiles = second[: n * BLOCK, :w].reshape(n, BLOCK, w // BLOCK, BLOCK).transpose(0, 2, 1, 3)
    variance = np.median(tiles.reshape(n * (w // BLOCK), -1) ** 2, axis=1) / 0.4549
    means = x[: n * BLOCK, :w].reshape(n, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3)).ravel()
    order = np.argsort(means)
    out = []
    for part in np.array_split(order, PT_BINS):
        out += [np.log1p(means[part].mean()), np.log1p(np.quantile(variance[part], 0.25))]
    return np.array(out)


def rows(image: np.ndarray) -> np.ndarray:
    """Line-to-line statistics: spread of row means, of column means, and their ratio."""
    x = image.astype(np.float64)
    r, c = x.mean(axis=1), x.mean(axis=0)
    jitter_r, jitter_c = np.std(np.diff(r)), np.std(np.diff(c))
    return [*np.log1p([jitter_r, jitter_c]).tolist(), np.log1p(jitter_r) - np.log1p(jitter_c)]


def features(image: np.ndarray) -> np.ndarray:
    return np.concatenate([handcrafted_features(image), photon_transfer(image), rows(image)])


def one(index: int, sampling: str, size: int, seed: int) -> tuple[np.ndarray, list, float]:
    acq = simulate(seed, index, size, expected=True, sampling=sampling, profile=default())
    noise = np.std(acq.image.astype(np.float64) - acq.expected)
    snr = float(np.std(acq.expected) / max(noise, 1e-9))
    values = [getattr(acq.settings, name) for name in schema.CORE_NAMES]
    return features(acq.image), values, snr


def measure(sampling: str, n: int, size: int, seed: int, workers: int) -> dict:
    start = time.perf_counter()
    job = partial(one, sampling=sampling, size=size, seed=seed)
    with workers_pool(workers) as pool:
        done = list(pool.map(job, range(n), chunksize=32))
    x = np.stack([d[0] for d in done])
    raw = np.array([d[1] for d in done])
    snr = np.array([d[2] for d in done])
    y = np.stack([schema.field(f).forward(raw[:, j]) for j, f in enumerate(schema.CORE_NAMES)], 1)
    per_session = default().session_images if sampling == "archive" else 1
    groups = np.arange(n) // per_session
    train, test = next(GroupShuffleSplit(1, test_size=0.3, random_state=0).split(x, y, groups))
    simulated_s = time.perf_counter() - start
    predicted = np.empty((len(test), y.shape[1]))
    for j in range(y.shape[1]):
        model = HistGradientBoostingRegressor(max_iter=400, learning_rate=0.06, random_state=0)
        predicted[:, j] = model.fit(x[train], y[train, j]).predict(x[test])
    truth, pixel = y[test], raw[test, 0]
    regimes = {name: (pixel >= lo) & (pixel < hi) for name, (lo, hi) in PIXEL_REGIMES.items()}
    regimes |= {"SNR < 3": snr[test] < 3, "SNR >= 3": snr[test] >= 3}
    fields = {}
    for j, name in enumerate(schema.CORE_NAMES):
        entry = {"all": _r2(truth[:, j], predicted[:, j])}
        for regime, keep in regimes.items():
            entry[regime] = _r2(truth[keep, j], predicted[keep, j]) if keep.sum() >= 20 else None
        fields[name] = entry
    return {
        "sampling": sampling,
        "images": n,
        "train_images": len(train),
        "test_images": len(test),
        "features": x.shape[1],
        "share_snr_below_3": round(float(np.mean(snr < 3)), 3),
        "regime_images": {k: int(v.sum()) for k, v in regimes.items()},
        "r2": fields,
        "retrieval": _retrieval(truth, predicted),
        "seconds": {"simulate_and_features": round(simulated_s, 1),
                    "fit": round(time.perf_counter() - start - simulated_s, 1)},
    }  # fmt: skip


def measure_dataset(dataset: Path) -> dict:
    """The estimator fitted on a dataset's train split and scored on its test split."""
    store = Store(dataset)
    table = store.table()
    start = time.perf_counter()
    split = {name: table[table["split"] == name] for name in ("train", "test")}
    x, y = {}, {}
    for name, rows in split.items():
        x[name] = np.stack([features(store.image(i)) for i in rows["image_id"]])
        recorded = [
            schema.field(f).forward(rows[f].to_numpy(np.float64)) for f in schema.CORE_NAMES
        ]
        y[name] = np.stack(recorded, axis=1)
    measured_s = time.perf_counter() - start
    predicted = np.empty_like(y["test"])
    for j in range(len(schema.CORE_NAMES)):
        model = HistGradientBoostingRegressor(max_iter=400, learning_rate=0.06, random_state=0)
        predicted[:, j] = model.fit(x["train"], y["train"][:, j]).predict(x["test"])
    truth = y["test"]
    return {
        "dataset": str(dataset),
        "train_images": len(split["train"]),
        "test_images": len(split["test"]),
        "features": x["train"].shape[1],
        "r2": {n: _r2(truth[:, j], predicted[:, j]) for j, n in enumerate(schema.CORE_NAMES)},
        "retrieval": _retrieval(truth, predicted),
        "seconds": {"features": round(measured_s, 1),
                    "fit": round(time.perf_counter() - start - measured_s, 1)},
    }  # fmt: skip


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    return round(float(1 - np.sum((y - p) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12)), 3)


def _retrieval(truth: np.ndarray, predicted: np.ndarray, gallery: int = 1000) -> dict:
    """Top-1 both ways when recovered fields (scaled by their RMSE) are the image embedding
    and recorded fields (same scale) the metadata embedding; nearest by distance."""
    pick = np.random.default_rng(0).permutation(len(truth))[:gallery]
    scale = np.sqrt(np.mean((truth - predicted) ** 2, axis=0))
    a, b = predicted[pick] / scale, truth[pick] / scale
    distance = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    right = np.arange(len(pick))
    chosen = truth[pick]

    def same(best: np.ndarray) -> float:  # the retrieved item was recorded with these settings
        return round(float(np.mean(np.isclose(chosen[best], chosen, rtol=1e-6).all(axis=1))), 3)

    return {
        "gallery": len(pick),
        "image_to_meta_top1": round(float(np.mean(distance.argmin(1) == right)), 3),
        "meta_to_image_top1": round(float(np.mean(distance.argmin(0) == right)), 3),
        "image_to_meta_top1_same_settings": same(distance.argmin(1)),
        "meta_to_image_top1_same_settings": same(distance.argmin(0)),
        "chance_top1": round(1 / len(pick), 4),
    }


def markdown(results: list[dict]) -> str:
    lines = [
        "# The physics ceiling: fields recovered from whole images by gradient boosting",
        "",
        f"`{' '.join(['python', 'benchmarks/ceiling.py', *sys.argv[1:]])}`",
        "",
    ]
    for r in results:
        regimes = list(next(iter(r["r2"].values())))
        lines += [
            f"## {r['sampling']} sampling: {r['images']} images ({r['test_images']} held out "
            f"by session), {r['features']} features; {100 * r['share_snr_below_3']:.0f} % have "
            "SNR < 3",
            "",
            "| field | " + " | ".join(regimes) + " |",
            "|---" * (len(regimes) + 1) + "|",
        ]
        for name, entry in r["r2"].items():
            cells = ["-" if entry[k] is None else f"{entry[k]:.2f}" for k in regimes]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        counts = ", ".join(f"{k}: {v}" for k, v in r["regime_images"].items())
        t = r["retrieval"]
        lines += [
            "",
            f"Held-out images per regime: {counts}.",
            f"Recovered fields as an embedding, gallery {t['gallery']}: top-1 image -> metadata "
            f"{100 * t['image_to_meta_top1']:.1f} %, metadata -> image "
            f"{100 * t['meta_to_image_top1']:.1f} % (chance {100 * t['chance_top1']:.1f} %); "
            "counting any item recorded with the query's settings as a hit: "
            f"{100 * t['image_to_meta_top1_same_settings']:.1f} % / "
            f"{100 * t['meta_to_image_top1_same_settings']:.1f} %.",
            "",
        ]
    return "\n".join(lines)


def same_images_markdown(r: dict) -> str:
    t = r["retrieval"]
    return "\n".join([
        "# The ceiling estimator on a dataset's own images",
        "",
        f"`{r['command']}`: gradient boosting on {r['features']} features of whole images, "
        f"fitted on {r['train_images']} train images, scored on {r['test_images']} test images.",
        "",
        "| field | R2 |",
        "|---|---|",
        *(f"| {name} | {value:.3f} |" for name, value in r["r2"].items()),
        "",
        f"Recovered fields as an embedding, gallery {t['gallery']}: top-1 "
        f"{100 * t['image_to_meta_top1']:.1f} % / {100 * t['meta_to_image_top1']:.1f} % exact, "
        f"{100 * t['image_to_meta_top1_same_settings']:.1f} % / "
        f"{100 * t['meta_to_image_top1_same_settings']:.1f} % same settings.",
        "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=300)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--samplings", default="uniform,archive")
    parser.add_argument("--dataset", type=Path, help="measure on this dataset's own images")
    parser.add_argument("--name", default="same-images", help="results file name (--dataset)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.dataset is not None:
        result = measure_dataset(args.dataset)
        result["command"] = " ".join(["python", "benchmarks/ceiling.py", *sys.argv[1:]])
        (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / f"{args.name}.md").write_text(same_images_markdown(result))
        print(same_images_markdown(result))
        return
    results = [
        measure(s, args.n, args.size, args.seed, args.workers) for s in args.samplings.split(",")
    ]
    command = " ".join(["python", "benchmarks/ceiling.py", *sys.argv[1:]])
    (RESULTS / "results.json").write_text(
        json.dumps({"command": command, "results": results}, indent=2) + "\n"
    )
    (RESULTS / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
