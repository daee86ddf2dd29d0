"""One self-contained HTML page on what a model learned, for a microscopist's browser.

Sections: evaluation table, predicted vs recorded per field, a 2-D map of the embedding
coloured by each field, retrieval examples, calibration curves of the intervals, and the
audit's top suspects. Figures are embedded as PNG data, so the page is a single file.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cimp import figures, recovery, schema
from cimp.audit import audit, corruption_benchmark
from cimp.domain import Domain, for_run
from cimp.embeddings import Embeddings, embed_dataset
from cimp.evaluate import r2
from cimp.retrieval import retrieval
from cimp.run import as_run
from cimp.store import Store

MIN_IMAGES = 10  # fewer held-out images than this give no R2, coverage or calibration curve
SECTIONS = (
    "Evaluation",
    "Predicted vs recorded",
    "Embedding map",
    "Retrieval examples",
    "Calibration",
    "Audit: top suspects",
)
STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.note{background:#fff6dd;padding:0.6em 1em;border-left:4px solid #e0a800}
img{max-width:100%}"""


def report(
    run: str | Path,
    dataset: str | Path,
    out: str | Path,
    device: str = "auto",
    *,
    show_progress: bool = True,
    seed: int = 0,
) -> Path:
    """Write the report to `out` (an .html file) and return its path."""
    run = as_run(run)
    emb = embed_dataset(run, dataset, device, show_progress=show_progress)
    predictor = recovery.for_run(run, device=device, show_progress=show_progress)
    trained = run.dataset
    foreign = trained != Path(dataset).resolve()
    test = emb.table["split"].to_numpy() == "test"
    held_out = emb if foreign or not test.any() else emb.subset(test)
    fields = [f for f in run.config.model.fields if f in predictor.fields]
    store = Store(dataset)
    rng = np.random.default_rng(seed)

    parts = [f"<h1>cimp report: {html.escape(Path(run).name)} on {html.escape(str(dataset))}</h1>"]
    parts.append(_intro(run, dataset, emb, held_out, foreign=foreign, trained_on=trained))
    parts.append(_domain(for_run(run), emb))
    bodies = [
        _evaluation(predictor, held_out, fields),
        _enough(held_out)
        or _png(
            figures.predicted_vs_recorded, *_recorded_and_predicted(predictor, held_out, fields)
        ),
        _enough(held_out)
        or _png(figures.embedding_map, held_out.image, _recorded(held_out, fields)),
        _retrieval_examples(store, held_out, rng),
        _calibration(predictor, held_out),
        _suspects(store, predictor, emb, held_out, fields=fields),
    ]
    for title, body in zip(SECTIONS, bodies, strict=True):
        parts.append(f"<h2>{title}</h2>\n{body}")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>cimp report</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _intro(
    run, dataset, emb: Embeddings, held_out: Embeddings, *, foreign: bool, trained_on
) -> str:
    when = datetime.now().strftime("%Y-%m-%d %H:%M")
    text = (
        f"<p>Model <code>{html.escape(str(run))}</code>, {len(emb.table)} embedded images of "
        f"<code>{html.escape(str(dataset))}</code>; scores below use {len(held_out.table)} images "
        f"the model was not trained on. Written {when}.</p>"
    )
    if foreign:
        text += (
            f"<p class='note'>This dataset is not the one the model was trained on "
            f"(<code>{html.escape(str(trained_on))}</code>): its images may come from other "
            "instruments, detectors and settings than the training data, so every number "
            "here says how well the model transfers, not how good it is at home.</p>"
        )
    return text


def _domain(domain: Domain | None, emb: Embeddings) -> str:
    """What the run was trained on, and how many of these images lie outside it."""
    if domain is None:
        return (
            "<p class='note'>The run records no training domain and its dataset is gone: "
            "whether these images are like its training images cannot be checked.</p>"
        )
    text = f"<p>The model was trained on {html.escape(domain.describe())}.</p>"
    if domain.origins == ["simulated"]:
        text += (
            "<p class='note'>The model was trained on simulated images only: on real "
            "acquisitions its numbers say how well the simulator stands in for the "
            "instrument, not what the instrument recorded.</p>"
        )
    outside = [n for n in domain.check_rows(emb.table) if n]
    if outside:
        kinds = pd.Series([kind for note in outside for kind in note]).value_counts()
        listed = ", ".join(f"{kind} ({n})" for kind, n in kinds.items())
        text += (
            f"<p class='note'>{len(outside)} of {len(emb.table)} images lie outside what the "
            f"model was trained on (by {html.escape(listed)}): their predictions and audit "
            "scores are extrapolations.</p>"
        )
    return text


def _enough(held_out: Embeddings) -> str:
    """'' when there are enough held-out images to score, else a note that says so."""
    if len(held_out.table) >= MIN_IMAGES:
        return ""
    return (
        f"<p class='note'>Too few images ({len(held_out.table)}; at least {MIN_IMAGES}) to score: "
        "no number is shown rather than a meaningless one.</p>"
    )


def _evaluation(predictor: recovery.Predictor, held_out: Embeddings, fields: list[str]) -> str:
    if _enough(held_out):
        return _enough(held_out)
    r = retrieval(held_out.image, held_out.meta)
    rows = [
        ("image &rarr; metadata", r["image_to_meta_top1"], r["image_to_meta_top5"]),
        ("metadata &rarr; image", r["meta_to_image_top1"], r["meta_to_image_top5"]),
    ]
    out = [
        f"<p>Cross-modal retrieval in a gallery of {r['gallery']} (chance: top-1 "
        f"{100 * r['chance_top1']:.2f} %, top-5 {100 * r['chance_top5']:.2f} %).</p>",
        "<table><tr><th>direction</th><th>top-1</th><th>top-5</th></tr>",
        *(
            f"<tr><td>{d}</td><td>{100 * a:.1f} %</td><td>{100 * b:.1f} %</td></tr>"
            for d, a, b in rows
        ),
        "</table><p>Metadata recovered from pixels (linear probe on the image embedding; "
        "R2 in the space the field is modelled in, log10 for scale-like fields; the 90 % "
        "interval's share of recorded values should be near 90 %).</p>",
        "<table><tr><th>field</th><th>images</th><th>R2</th><th>median error</th>"
        "<th>inside 90 % interval</th></tr>",
    ]
    predicted = predictor.predict(held_out.image, 0.9)
    for name in predictor.fields:
        recorded = held_out.table[name].to_numpy(dtype=np.float64)
        known = np.isfinite(recorded)
        if known.sum() < MIN_IMAGES:
            out.append(f"<tr><td>{name}</td><td>{known.sum()}</td><td colspan=3>too few "
                       "images</td></tr>")  # fmt: skip
            continue
        f = schema.field(name)
        y, p = f.forward(recorded[known]), f.forward(predicted[name].to_numpy()[known])
        score = r2(y, p)  # as evaluate's: the same probe, the same held-out images
        error = np.median(np.abs(predicted[name].to_numpy()[known] - recorded[known]))
        low = predicted[f"{name}_low"].to_numpy()[known]
        high = predicted[f"{name}_high"].to_numpy()[known]
        inside = np.mean((recorded[known] >= low) & (recorded[known] <= high))
        mark = "" if name in fields else " (not read by the metadata encoder)"
        out.append(
            f"<tr><td>{name}{mark}</td><td>{known.sum()}</td><td>{score:.3f}</td>"
            f"<td>{error:.3g} {f.unit}</td><td>{100 * inside:.1f} %</td></tr>"
        )
    return "\n".join([*out, "</table>"])


def _recorded(held_out: Embeddings, fields: list[str]) -> dict:
    return {
        n: schema.field(n).forward(held_out.table[n].to_numpy(dtype=np.float64)) for n in fields
    }


def _recorded_and_predicted(
    predictor, held_out: Embeddings, fields: list[str]
) -> tuple[dict, dict]:
    predicted = predictor.predict(held_out.image)
    return _recorded(held_out, fields), {
        n: schema.field(n).forward(predicted[n].to_numpy()) for n in fields
    }


def _png(draw, *args) -> str:
    buffer = io.BytesIO()
    draw(*args, buffer)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"<img src='data:image/png;base64,{data}'>"


def _retrieval_examples(
    store: Store, held_out: Embeddings, rng, queries: int = 4, *, k: int = 5
) -> str:
    """Recorded metadata of a few images as queries; their top matches among all images."""
    rows = []
    for i in rng.choice(len(held_out.table), size=min(queries, len(held_out.table)), replace=False):
        sims = held_out.image @ held_out.meta[i]
        best = np.argsort(-sims)[:k]
        query = (store.image(held_out.table["image_id"].iat[i]), "image of these settings", False)
        matches = [
            (store.image(held_out.table["image_id"].iat[j]), f"#{n + 1}  {sims[j]:.2f}", j == i)
            for n, j in enumerate(best)
        ]
        rows.append([query, *matches])
    return (
        "<p>Each row: the metadata of the first image is the query; the next images are the "
        f"{k} images whose embedding best matches it (cosine). A red frame marks the image "
        "those settings were recorded with. Display contrast is stretched per thumbnail.</p>"
        + _png(figures.contact_sheet, rows)
    )


def _calibration(predictor: recovery.Predictor, held_out: Embeddings) -> str:
    if _enough(held_out):
        return _enough(held_out)
    levels = (0.1, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.99)
    coverage = recovery.coverage(predictor, held_out, levels)
    return (
        "<p>For each stated level, the share of images whose recorded value lies inside the "
        "interval. On the diagonal the intervals mean what they say.</p>"
        + _png(figures.calibration_curves, coverage)
    )


def _suspects(
    store, predictor, emb: Embeddings, held_out: Embeddings, *, fields, shown: int = 12
) -> str:
    found = audit(predictor, emb, fields).head(shown)
    if _enough(held_out):
        measured = "Too few held-out images to measure how well the audit finds mistakes."
    else:
        bench = corruption_benchmark(predictor, held_out, fields, repeats=10)
        measured = (
            "Measured on held-out images with 5 % of records corrupted: ROC-AUC "
            f"{bench['roc_auc']:.2f}, precision in the top 5 % "
            f"{100 * bench['precision_at_fraction']:.0f} %."
        )
    out = [
        "<p>Images whose recorded metadata is furthest from what their pixels say; a field's "
        "number is how far outside its 90 % interval it lies (2x = twice the half-width). "
        f"{measured}</p>",
        "<table><tr><th>#</th><th>file</th><th>frame</th><th>score</th>"
        "<th>suspect fields</th></tr>",
    ]
    for n, row in enumerate(found.itertuples(), start=1):
        out.append(
            f"<tr><td>{n}</td><td>{html.escape(Path(row.source).name)}</td><td>{row.frame}</td>"
            f"<td>{row.score:.2f}</td><td>{html.escape(row.suspects)}</td></tr>"
        )
    out.append("</table>")
    sheet = [
        (store.image(row.image_id), f"#{n} {Path(row.source).name[:18]}", False)
        for n, row in enumerate(found.head(8).itertuples(), start=1)
    ]
    if sheet:
        out.append(
            _png(figures.contact_sheet, [sheet[:4], sheet[4:]] if len(sheet) > 4 else [sheet])
        )
    return "\n".join(out)
