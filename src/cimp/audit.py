"""Audit: images whose recorded metadata does not match what their pixels say.

Each recorded field is compared with the value recovered from the image (`predict`), in
units of that image's 90 % interval half-width: 1 is the edge of the interval, 4 is four
times as far. An image's score is its worst field, and those beyond the edge are named as
the fields most likely wrong.

`corruption_benchmark` measures the audit: it corrupts the metadata of a random share of
held-out images (one field swapped with another image's value, or scaled by 2-10x) and
reports ROC-AUC and precision among the top-scored images, per field and overall.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cimp.domain import Domain
from cimp.embeddings import Embeddings
from cimp.recovery import Predictor

ID_COLUMNS = ["image_id", "source", "frame", "split"]


def audit(
    predictor: Predictor,
    emb: Embeddings,
    fields: list[str] | None = None,
    domain: Domain | None = None,
) -> pd.DataFrame:
    """One row per image, worst first: score, suspect fields, each field's error and, with
    the run's domain, how the image lies outside it (its score is then an extrapolation)."""
    scored = _scored(predictor, emb.image, emb.table, fields)
    if domain is not None:
        notes = ["; ".join(n.values()) for n in domain.check_rows(emb.table)]
        notes = pd.Series(notes, emb.table.index)
        scored["out_of_domain"] = notes[scored.index]
    return scored


def _scored(predictor, x, table, fields) -> pd.DataFrame:
    fields = [f for f in (fields or predictor.fields) if f in predictor.fields]
    errors = predictor.errors(x, table)[fields]
    out = table[ID_COLUMNS].copy()
    out["score"] = errors.max(axis=1, skipna=True).fillna(0.0).to_numpy()
    out["suspects"] = [_suspects(row, fields) for row in errors.to_numpy()]
    out[[f"error_{f}" for f in fields]] = errors.to_numpy()
    return out.sort_values("score", ascending=False, kind="stable")


def _suspects(errors: np.ndarray, fields: list[str]) -> str:
    """'dwell_time (4.2x), beam_current (1.3x)': the fields outside their 90 % interval."""
    order = np.argsort(-np.nan_to_num(errors, nan=-1.0), kind="stable")
    return ", ".join(f"{fields[i]} ({errors[i]:.1f}x)" for i in order if errors[i] > 1)


def corrupt(
    table: pd.DataFrame, fields: list[str], fraction: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.Series]:
    """A copy of `table` with one recorded field of `fraction` of its rows corrupted:
    swapped with another row's (different) value, or scaled by a factor of 2-10 up or down.
    Returns the copy and, per row, the corrupted field (None for clean rows)."""
    table = table.copy()
    truth = pd.Series([None] * len(table), index=table.index, dtype=object)
    n = max(1, round(fraction * len(table)))
    for row in rng.choice(len(table), size=n, replace=False):
        known = [f for f in fields if np.isfinite(table[f].iat[row]) and table[f].iat[row] != 0]
        if not known:
            continue
        name = known[rng.integers(len(known))]
        column = table.columns.get_loc(name)
        value = table.iat[row, column]
        others = table[name].to_numpy(dtype=np.float64)
        others = others[np.isfinite(others) & ~np.isclose(others, value)]
        if rng.random() < 0.5 and len(others):
            table.iat[row, column] = others[rng.integers(len(others))]
        else:
            factor = np.exp(rng.uniform(np.log(2), np.log(10)))
            table.iat[row, column] = value * factor if rng.random() < 0.5 else value / factor
        truth.iat[row] = name
    return table, truth


def corruption_benchmark(
    predictor: Predictor,
    emb: Embeddings,
    fields: list[str] | None = None,
    fraction: float = 0.05,
    *,
    repeats: int = 20,
    seed: int = 0,
) -> dict:
    """ROC-AUC and precision at the top `fraction` over `repeats` random corruptions.

    Per field: AUC of images corrupted in that field against clean ones, and how often the
    audit names that field as the worst one.
    """
    fields = [f for f in (fields or predictor.fields) if f in predictor.fields]
    rng = np.random.default_rng(seed)
    aucs, precisions = [], []
    per_field: dict[str, dict[str, list]] = {f: {"score": [], "named": []} for f in fields}
    clean_scores = []
    for _ in range(repeats):
        table, truth = corrupt(emb.table, fields, fraction, rng)
        scored = _scored(predictor, emb.image, table, fields).loc[table.index]
        bad = truth.notna().to_numpy()
        score = scored["score"].to_numpy()
        aucs.append(roc_auc_score(bad, score))
        top = np.argsort(-score, kind="stable")[: max(1, round(fraction * len(score)))]
        precisions.append(float(bad[top].mean()))
        clean_scores.append(score[~bad])
        worst = scored[[f"error_{f}" for f in fields]].fillna(-1).to_numpy().argmax(axis=1)
        for i in np.flatnonzero(bad):
            entry = per_field[truth.iat[i]]
            entry["score"].append(score[i])
            entry["named"].append(fields[worst[i]] == truth.iat[i])
    clean = np.concatenate(clean_scores)
    result = {
        "images": len(emb.table),
        "fraction": fraction,
        "repeats": repeats,
        "roc_auc": float(np.mean(aucs)),
        "roc_auc_sd": float(np.std(aucs)),
        "precision_at_fraction": float(np.mean(precisions)),
        "precision_sd": float(np.std(precisions)),
        "fields": {},
    }
    for name, entry in per_field.items():
        if not entry["score"]:
            continue
        hits = np.asarray(entry["score"])
        labels = np.r_[np.ones(len(hits)), np.zeros(len(clean))]
        result["fields"][name] = {
            "corrupted": len(hits),
            "roc_auc": float(roc_auc_score(labels, np.r_[hits, clean])),
            "named_worst": float(np.mean(entry["named"])),
        }
    return result
