"""Evaluation on the held-out split: retrieval, metadata recovery, and baselines beside them.

Every image is read whole, as predict and search read it (`cimp.views`: a grid of crops,
pooled). Every field is predicted from frozen image embeddings by a ridge probe and by k-NN,
and by two baselines reading the same whole images (hand-crafted statistics + ridge; a
supervised CNN of the same size, its predictions averaged over the crops). Scores: R2 in
the space the field is normalised in (log10 for scale-like fields), MAE in the field's unit,
and SMAPE.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsRegressor

from cimp import probe, schema, views
from cimp.baselines import handcrafted_features, train_regressor
from cimp.data import CropDataset
from cimp.device import resolve_device
from cimp.embeddings import embed_metadata
from cimp.errors import CimpError
from cimp.retrieval import retrieval, retrieval_by_gallery
from cimp.run import as_run
from cimp.store import Store

METHODS = ("probe", "knn", "handcrafted", "supervised")


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1.0 - np.sum((y - pred) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12))


def smape(y: np.ndarray, pred: np.ndarray) -> float:
    """Symmetric mean absolute percentage error, in %."""
    return float(100 * np.mean(2 * np.abs(pred - y) / np.maximum(np.abs(y) + np.abs(pred), 1e-12)))


def field_scores(name: str, y: np.ndarray, pred: np.ndarray) -> dict:
    """R2 in the normalised space; MAE and SMAPE in physical units."""
    f = schema.field(name)
    y_phys, p_phys = f.inverse(y), f.inverse(pred)
    return {
        "r2": r2(y, pred),
        "mae": float(np.mean(np.abs(p_phys - y_phys))),
        "smape": smape(y_phys, p_phys),
        "unit": f.unit,
        "n": len(y),
    }


def _targets(table: pd.DataFrame, name: str) -> np.ndarray:
    return schema.field(name).forward(table[name].to_numpy(dtype=np.float64))


def _knn_predict(x_train, y_train, x_test) -> np.ndarray:
    ok = np.isfinite(y_train)
    knn = KNeighborsRegressor(n_neighbors=10, weights="distance", metric="cosine")
    return knn.fit(x_train[ok], y_train[ok]).predict(x_test)


def evaluate(
    run: str | Path,
    dataset: str | Path,
    out: str | Path | None = None,
    supervised_steps: int | None = None,
    *,
    device: str = "auto",
    show_progress: bool = True,
) -> dict:
    """Score a run on the dataset's test split; writes results.json, results.md, figures."""
    device = resolve_device(device)
    run = as_run(run)
    model, normalizer, config = run.load_model(device), run.normalizer, run.config
    store = Store(dataset)
    table = store.table()
    crop = config.model.crop
    train_table = table[table["split"] == "train"]
    test_table = table[table["split"] == "test"]
    if len(test_table) == 0:
        raise CimpError(f"{dataset} has no test split to evaluate on")
    scale = model.config.intensity_scale
    train_set = CropDataset(store, train_table, normalizer, crop, scale=scale)
    test_set = CropDataset(store, test_table, normalizer, crop, scale=scale)
    fields = config.model.fields

    def whole(table: pd.DataFrame):
        return store.images(table["image_id"])

    train_image = views.embed_images(model, whole(train_set.table))
    test_image = views.embed_images(model, whole(test_set.table))
    test_meta = embed_metadata(model, normalizer, test_set.table)
    hand_train = np.stack([handcrafted_features(x) for x in whole(train_set.table)])
    hand_test = np.stack([handcrafted_features(x) for x in whole(test_set.table)])
    settings = config.train
    regressor = train_regressor(
        model.config,
        CropDataset(store, train_table, normalizer, crop, train=True, scale=scale),
        supervised_steps or settings.steps,
        settings.batch_size,
        lr=settings.lr,
        seed=settings.seed,
        device=device,
        show_progress=show_progress,
    )
    instruments = test_set.table["instrument"].fillna("*")
    read = views.read_images(regressor, whole(test_set.table), crop, scale, device=device)
    averaged = np.stack([each.mean(dim=0).numpy() for each in read])
    supervised = normalizer.decode(averaged, instruments)

    predictions: dict[str, dict[str, np.ndarray]] = {m: {} for m in METHODS}
    scores: dict[str, dict[str, dict]] = {m: {} for m in METHODS}
    for name in fields:
        y_train, y_test = _targets(train_set.table, name), _targets(test_set.table, name)
        predictions["probe"][name] = probe.fit_predict(train_image, y_train, test_image)
        predictions["knn"][name] = _knn_predict(train_image, y_train, test_image)
        predictions["handcrafted"][name] = probe.fit_predict(hand_train, y_train, hand_test)
        predictions["supervised"][name] = schema.field(name).forward(supervised[name])
        known = np.isfinite(y_test)
        for method in METHODS:
            scores[method][name] = field_scores(
                name, y_test[known], predictions[method][name][known]
            )

    settings = test_set.table[list(schema.CORE_NAMES)].to_numpy()
    results = {
        "run": str(run),
        "dataset": str(dataset),
        "test_images": len(test_set),
        "train_images": len(train_set),
        "retrieval": retrieval(test_image, test_meta, settings=settings),
        "retrieval_by_gallery": retrieval_by_gallery(test_image, test_meta, settings),
        "fields": scores,
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
        (out / "results.md").write_text(markdown(results))
        from cimp.figures import embedding_map, predicted_vs_recorded

        recorded = {n: _targets(test_set.table, n) for n in fields}
        predicted_vs_recorded(recorded, predictions["probe"], out / "predicted_vs_recorded.png")
        embedding_map(test_image, recorded, out / "embedding_map.png")
    return results


def markdown(results: dict) -> str:
    """The headline table: retrieval, then R2 / MAE / SMAPE of every method per field."""
    r = results["retrieval"]
    lines = [
        f"# cimp evaluation — {results['test_images']} held-out images "
        f"({results['train_images']} for training)",
        "",
        f"Cross-modal retrieval, gallery of {r['gallery']} (chance: top-1 "
        f"{100 * r['chance_top1']:.2f} %, top-5 {100 * r['chance_top5']:.2f} %)",
        "",
        "| direction | top-1 | top-5 |",
        "|---|---|---|",
        f"| image -> metadata | {100 * r['image_to_meta_top1']:.1f} % | "
        f"{100 * r['image_to_meta_top5']:.1f} % |",
        f"| metadata -> image | {100 * r['meta_to_image_top1']:.1f} % | "
        f"{100 * r['meta_to_image_top5']:.1f} % |",
        "",
        *(
            [
                "Top-1 counting as a hit any item recorded with the query's seven core settings "
                f"(images of one session often share them): image -> metadata "
                f"{100 * r['image_to_meta_top1_same_settings']:.1f} %, metadata -> image "
                f"{100 * r['meta_to_image_top1_same_settings']:.1f} %.",
                "",
            ]
            if "image_to_meta_top1_same_settings" in r
            else []
        ),
        *_by_gallery(results.get("retrieval_by_gallery")),
        "Metadata recovery from pixels (R2 in normalised space; MAE in the field's unit; SMAPE)",
        "",
        "| field | " + " | ".join(f"{m} R2" for m in METHODS) + " | probe MAE | probe SMAPE |",
        "|---|" + "---|" * (len(METHODS) + 2),
    ]
    for name, scores in results["fields"]["probe"].items():
        r2s = " | ".join(f"{results['fields'][m][name]['r2']:.3f}" for m in METHODS)
        lines.append(
            f"| {name} | {r2s} | {scores['mae']:.4g} {scores['unit']} | {scores['smape']:.1f} % |"
        )
    return "\n".join(lines) + "\n"


def _by_gallery(curve: dict | None) -> list[str]:
    """Top-1 against gallery size: a hit is an item recorded with the query's seven core
    settings (and, beside it, the exact pair)."""
    if not curve:
        return []
    lines = [
        "Top-1 against gallery size (hit: the query's seven core settings; exact pair in brackets)",
        "",
        "| gallery | image -> metadata | metadata -> image |",
        "|---|---|---|",
    ]
    for size, r in curve.items():
        lines.append(
            f"| {size} | {100 * r['image_to_meta_top1_same_settings']:.1f} % "
            f"({100 * r['image_to_meta_top1']:.1f} %) | "
            f"{100 * r['meta_to_image_top1_same_settings']:.1f} % "
            f"({100 * r['meta_to_image_top1']:.1f} %) |"
        )
    return [*lines, ""]
