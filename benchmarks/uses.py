"""Interval coverage of `cimp predict` and detection by `cimp audit`, on held-out images.

Run after `make demo`: `.venv/bin/python benchmarks/uses.py [RUN DATASET]` (default: the
demo's run and dataset). The predictor is fitted on the train and validation splits; on the
test split it reports, per field, the share of recorded values inside the stated interval
(50, 80, 90, 95 %). The audit benchmark corrupts the metadata of 5 % of test images (one
field swapped with another image's value, or scaled by 2-10x), 50 times, and reports ROC-AUC
and precision among the top 5 % of scores, overall and per field. On simulated archive data it
also scores the archive's own mistakes (images acquired with too low a dose, a saturating
gain or a mis-set offset, their metadata right) against the rest of the test split. Writes
results/uses/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from cimp import recovery
from cimp.audit import audit, corruption_benchmark
from cimp.embeddings import embed_dataset
from cimp.run import Run
from cimp.schema import field

RESULTS = Path(__file__).parent / "results" / "uses"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default="demo-output/run")
    parser.add_argument("dataset", nargs="?", default="demo-output/dataset")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args()
    run = Run(args.run)
    emb = embed_dataset(run, args.dataset, show_progress=False)
    test = emb.table["split"].to_numpy() == "test"
    predictor = recovery.fit(emb.subset(~test), run.weights_id)
    held = emb.subset(test)
    fields = run.config.model.fields
    results = {
        "command": " ".join(["python", *sys.argv]),
        "run": args.run,
        "dataset": args.dataset,
        "test_images": len(held.table),
        "calibrated_on": next(iter(predictor.fields.values())).calibrated_on,
        "coverage": recovery.coverage(predictor, held),
        "audit": corruption_benchmark(predictor, held, fields, repeats=args.repeats),
        "resampled_coverage_90": resampled(predictor, emb.subset(emb.table["split"] != "train")),
        "archive_mistakes": archive_mistakes(predictor, held, fields),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(markdown(results))
    print(markdown(results))


def archive_mistakes(predictor, held, fields) -> dict | None:
    """Audit ROC-AUC of the simulator's built-in mistakes (named in each file) against the
    other test images, overall and per kind; None when the images name none."""
    from rsciio.hspy import file_reader
    from sklearn.metrics import roc_auc_score

    def mistake(source: str) -> str:
        if not source.endswith(".hspy"):
            return ""
        tree = file_reader(source, lazy=True)[0]["original_metadata"]
        return tree.get("cimp_simulation", {}).get("generator", {}).get("mistake", "")

    scores = audit(predictor, held, fields)
    kinds = scores["source"].map(mistake)
    if not (kinds != "").any():
        return None
    out = {"images": int((kinds != "").sum()), "of": len(kinds)}
    out["roc_auc"] = float(roc_auc_score(kinds != "", scores["score"]))
    for kind in sorted(set(kinds) - {""}):
        keep = (kinds == kind) | (kinds == "")
        auc = roc_auc_score(kinds[keep] == kind, scores["score"][keep])
        out[kind] = {"images": int((kinds == kind).sum()), "roc_auc": float(auc)}
    return out


def resampled(predictor, unseen, draws: int = 300, level: float = 0.9) -> dict:
    """90 % coverage when the images the encoder never saw (val + test) are split at random
    into calibration and evaluation halves, `draws` times: mean and spread per field."""
    rng = np.random.default_rng(0)
    out = {}
    for name, model in predictor.fields.items():
        y = field(name).forward(unseen.table[name].to_numpy(dtype=np.float64))
        known = np.flatnonzero(np.isfinite(y))
        error = np.abs(y - model.value(unseen.image))
        shares = []
        for _ in range(draws):
            order = rng.permutation(known)
            calibration, evaluation = (
                np.sort(error[order[: len(order) // 2]]),
                order[len(order) // 2 :],
            )
            q = calibration[min(math.ceil((len(calibration) + 1) * level), len(calibration)) - 1]
            shares.append(float(np.mean(error[evaluation] <= q)))
        out[name] = {"mean": float(np.mean(shares)), "sd": float(np.std(shares))}
    return out


def markdown(results: dict) -> str:
    lines = [
        f"# Metadata recovery intervals and audit — {results['test_images']} held-out images",
        "",
        f"`{results['command']}`; predictor calibrated on {results['calibrated_on']}.",
        "",
        "## Share of recorded values inside the stated interval (test split)",
        "",
        "| field | 50 % | 80 % | 90 % | 95 % | median 90 % width |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in results["coverage"].items():
        cells = " | ".join(f"{100 * v['coverage']:.1f} %" for v in entry["levels"].values())
        width = entry["levels"]["0.9"]["median_width"]
        shown = f"x{width:.3g} (high/low)" if field(name).log else f"{width:.3g} {entry['unit']}"
        lines.append(f"| {name} | {cells} | {shown} |")
    lines += [
        "",
        "Val + test images (never seen by the encoder) split at random into calibration and",
        "evaluation halves, 300 times: share inside the 90 % interval, mean (sd) per field:",
        "",
        ", ".join(
            f"{n} {100 * v['mean']:.1f} % ({100 * v['sd']:.1f})"
            for n, v in results["resampled_coverage_90"].items()
        ),
    ]
    audit = results["audit"]
    lines += [
        "",
        f"## Audit: 5 % of records corrupted, {audit['repeats']} draws",
        "",
        f"Overall ROC-AUC **{audit['roc_auc']:.3f}** (sd {audit['roc_auc_sd']:.3f}); precision "
        f"in the top 5 % **{100 * audit['precision_at_fraction']:.1f} %** "
        f"(sd {100 * audit['precision_sd']:.1f}; chance 5 %).",
        "",
        "| corrupted field | records | ROC-AUC vs clean | named as the worst field |",
        "|---|---|---|---|",
    ]
    for name, entry in audit["fields"].items():
        lines.append(
            f"| {name} | {entry['corrupted']} | {entry['roc_auc']:.3f} | "
            f"{100 * entry['named_worst']:.0f} % |"
        )
    mistakes = results.get("archive_mistakes")
    if mistakes:
        kinds = ", ".join(
            f"{k} {v['roc_auc']:.3f} ({v['images']})" for k, v in mistakes.items()
            if isinstance(v, dict)
        )  # fmt: skip
        lines += [
            "",
            "## Audit of the archive's own mistakes",
            "",
            f"{mistakes['images']} of {mistakes['of']} test images are acquisition mistakes "
            f"(metadata right, image not as the settings would give): ROC-AUC of the audit "
            f"score against the rest **{mistakes['roc_auc']:.3f}**; per kind (images): {kinds}.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
