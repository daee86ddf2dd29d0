"""Commands that use a trained model on an archive: embed, search, predict, audit, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from cimp.cli.app import app, console, fail
from cimp.cli.options import options_from
from cimp.config import SearchConfig

Run = Annotated[Path, typer.Argument(help="Run folder made by train.")]
Dataset = Annotated[Path, typer.Argument(help="Dataset folder made by ingest.")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda ...")]


def _trained_run(run: Path):
    """The run, or the one-line error that the folder holds none."""
    from cimp.run import Run as TrainedRun

    return TrainedRun(run)


def _progress() -> bool:
    return sys.stderr.isatty()


def _embedded(run: Path, dataset: Path, device: str):
    """The dataset's embeddings by the run (computed first where missing); says where they
    are kept when the dataset is read-only."""
    from cimp.embeddings import embed_dataset

    emb = embed_dataset(run, dataset, device, show_progress=_progress())
    if not emb.folder.is_relative_to(dataset):
        console.print(
            f"[yellow]note:[/yellow] {escape(str(dataset))} is read-only: its embeddings "
            f"are kept in {escape(str(emb.folder))}",
            soft_wrap=True,
        )
    return emb


@app.command()
def embed(run: Run, dataset: Dataset, device: Device = "auto") -> None:
    """Embed every image of DATASET with the run's encoders, stored with the dataset.

    Only images not embedded yet are computed, so an interrupted run resumes and a grown
    dataset embeds just its new images. Images smaller than the model's crop are left out.
    """

    run = _trained_run(run)
    emb = _embedded(run, dataset, device)
    from cimp.store import Store

    missing = len(Store(dataset).table()) - len(emb.table)
    console.print(f"{len(emb.table)} images embedded in [bold]{emb.folder}[/bold]")
    if missing:
        console.print(f"[yellow]{missing} images are smaller than the model's crop: none[/yellow]")


@app.command()
@options_from(SearchConfig)
def search(run: Run, dataset: Dataset, options: dict | None = None) -> None:
    """Find images like a file or row, or acquired at about given settings.

    Like a given image (--image FILE or --row ID), or acquired at about given settings
    (--set dwell_time=2us --set pixel_size=0.05nm; partial settings are fine), within
    filters on recorded fields (--where 'beam_energy=300kV'); --where alone lists every
    image that passes the filters.
    """
    from cimp.search import ask, find

    asked = SearchConfig(**options)
    run = _trained_run(run)
    image = None if asked.image is None else Path(asked.image)
    query = ask(image, asked.row, asked.settings, asked.where, k=asked.k)
    emb = _embedded(run, dataset, asked.device)
    found = find(run, emb, dataset, query, device=asked.device)
    _print_domain(found.query_outside)
    if found.weak is not None:
        gap, typical = found.weak
        console.print(
            f"[yellow]note:[/yellow] this query does not discriminate: its best matches "
            f"stand out from the bulk by {gap:.3f} in similarity, where the dataset's own "
            f"images stand out by {typical:.3f}; the ranking below means little",
            soft_wrap=True,
        )
    _print_hits(found.hits, found.what, found.columns, found.hits_outside)
    if asked.sheet is not None:
        _write_sheet(found.hits, dataset, Path(asked.sheet), found.what, found.query_image)


def _print_hits(hits, what: str, columns: list[str], foreign: list[str]) -> None:
    from cimp.schema import field

    units = [f" ({field(c).unit})" if field(c).unit else "" for c in columns]
    table = Table("#", "similarity", "closer than", "frame", title=escape(what))
    table.add_column("file", overflow="fold")
    for name, unit in zip(columns, units, strict=True):
        table.add_column(f"{name}{unit}")
    if any(foreign):
        table.add_column("out of domain (by)", overflow="fold")
    for (_, hit), outside in zip(hits.iterrows(), foreign, strict=True):
        cells = [f"{hit[c]:.4g}" if isinstance(hit[c], float) else str(hit[c]) for c in columns]
        cells += [escape(outside or "-")] if any(foreign) else []
        ranked = np.isfinite(hit["similarity"])
        table.add_row(
            str(hit["rank"]),
            f"{hit['similarity']:.3f}" if ranked else "-",
            f"{100 * hit['closer_than']:.1f} %" if ranked else "-",
            str(hit["frame"]),
            escape(Path(hit["source"]).name),
            *cells,
        )
    console.print(table)
    if hits.empty:
        console.print("[yellow]no image passes the filters[/yellow]")
    elif np.isfinite(hits["similarity"]).any():
        console.print(
            "closer than: the share of the dataset's images less similar to the query "
            "(raw similarities of one model differ little; this ranks them)"
        )


def _write_sheet(hits, dataset: Path, sheet: Path, what: str, query) -> None:
    from cimp.figures import contact_sheet
    from cimp.store import Store

    store = Store(dataset)
    items = [(store.image(h["image_id"]), _label(h), False) for _, h in hits.iterrows()]
    if query is not None:
        items.insert(0, (query, "query", True))
    rows = [items[i : i + 6] for i in range(0, len(items), 6)] or [[]]
    sheet.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(rows, sheet, what)
    console.print(f"contact sheet: [bold]{sheet}[/bold]")


def _label(hit) -> str:
    if not np.isfinite(hit["similarity"]):
        return f"#{hit['rank']}"
    return f"#{hit['rank']} closer than {100 * hit['closer_than']:.0f} %"


@app.command()
def predict(
    run: Run,
    files: Annotated[list[Path], typer.Argument(help="Images to recover metadata for.")],
    level: Annotated[float, typer.Option(help="Interval level (0.9 = 90 %).")] = 0.9,
    dataset: Annotated[
        Path | None, typer.Option(help="Fit the predictor on this dataset (default: the run's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    device: Device = "auto",
) -> None:
    """Recover every metadata field of FILES from their pixels, with intervals.

    Each interval holds the true value for --level of images like the training data; an
    image outside what the run was trained on is named as such, and a field whose interval
    spans most of its training range is said to be not recoverable by this run.

    For exports (PNG, TIFF) and damaged files whose metadata is lost. The predictor is fitted
    once on the run's dataset and kept in the run folder.
    """
    from cimp.recovery import for_run, predict_files

    run = _trained_run(run)
    if not 0 < level < 1:
        fail("--level is a fraction between 0 and 1, e.g. 0.9")
    predictor = for_run(run, dataset, device, show_progress=_progress())
    results = predict_files(run, files, predictor, level, device=device)
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        for entry in results:
            _print_prediction(entry, level)
        console.print(
            f"Intervals hold for {100 * level:g} % of images like the run's training data; "
            "an image marked out of domain is not such an image, and its intervals can miss."
        )
    if any(e["error"] or any("error" in i for i in e["images"]) for e in results):
        raise typer.Exit(1)


def _print_prediction(entry: dict, level: float) -> None:
    console.rule(f"[bold]{escape(entry['path'])}[/bold]")
    if entry["error"]:
        console.print(f"[red]unreadable:[/red] {escape(entry['error'])}")
        return
    for image in entry["images"]:
        title = f"frame {image['frame']}  {image['shape'][0]}x{image['shape'][1]}"
        if "error" in image:
            console.print(f"{title}: [red]{escape(image['error'])}[/red]")
            continue
        table = Table(
            "field", "predicted", f"{100 * level:g} % interval", "unit", "recorded", title=title
        )
        for name, f in image["fields"].items():
            recorded = f["recorded"]
            shown = "-" if recorded is None else f"{recorded:.4g}"
            if not f["recoverable"]:
                span = f"{100 * f['span_of_training_range']:.0f} %"
                interval = f"[dim]not recoverable by this run (spans {span} of its range)[/dim]"
                table.add_row(name, "-", interval, f["unit"], shown)
                continue
            if recorded is not None and not f["low"] <= recorded <= f["high"]:
                shown = f"[red]{shown}[/red]"
            table.add_row(
                name, f"{f['value']:.4g}", f"{f['low']:.4g} - {f['high']:.4g}", f["unit"], shown
            )
        console.print(table)
        _print_domain(image["out_of_domain"])
        for warning in image["warnings"]:
            console.print(f"  [yellow]note:[/yellow] {escape(warning)}")


def _print_domain(notes: list[str]) -> None:
    """Say that an image lies outside what the run was trained on, and how."""
    if notes:
        console.print("  [bold red]out of domain[/bold red] (predictions are extrapolations):")
    for note in notes:
        console.print(f"    - {escape(note)}")


@app.command()
def audit(
    run: Run,
    dataset: Dataset,
    top: Annotated[int, typer.Option(help="How many suspects to list.")] = 20,
    csv: Annotated[Path | None, typer.Option(help="Write every image's scores here.")] = None,
    device: Device = "auto",
) -> None:
    """Flag images whose recorded metadata does not match their pixels.

    Every image of DATASET is scored by how far its recorded metadata lies from what its
    pixels say, and the worst are listed with the fields most likely wrong (in units of the
    field's 90 % interval: 3x means three times further than the interval reaches)."""
    from cimp.audit import audit as run_audit
    from cimp.domain import for_run as domain_for_run
    from cimp.recovery import for_run

    run = _trained_run(run)
    if csv is not None and not csv.parent.is_dir():
        fail(f"--csv {csv}: no folder {csv.parent}")
    emb = _embedded(run, dataset, device)
    predictor = for_run(run, device=device, show_progress=_progress())
    fields = run.config.model.fields
    scores = run_audit(predictor, emb, fields, domain_for_run(run))
    shown = scores.head(top)
    table = Table("#", "score", "file", "frame", "suspect fields", title=f"{dataset}: worst {top}")
    foreign_shown = "out_of_domain" in shown and (shown["out_of_domain"] != "").any()
    if foreign_shown:
        table.add_column("out of domain", overflow="fold")
    for n, (_, row) in enumerate(shown.iterrows(), start=1):
        cells = [escape(row["out_of_domain"] or "-")] if foreign_shown else []
        table.add_row(
            str(n), f"{row['score']:.2f}", escape(Path(row["source"]).name), str(row["frame"]),
            escape(row["suspects"] or "-"), *cells,
        )  # fmt: skip
    console.print(table)
    foreign = int((scores["out_of_domain"] != "").sum()) if "out_of_domain" in scores else 0
    if foreign:
        console.print(
            f"[bold red]{foreign} of {len(scores)} images lie outside what the run was "
            "trained on[/bold red]: their scores are extrapolations (see the last column, "
            "or --csv)"
        )
    errors = scores.filter(like="error_")
    outside, known = int((errors > 1).to_numpy().sum()), int(errors.notna().to_numpy().sum())
    console.print(
        f"{outside} of {known} recorded values ({100 * outside / max(known, 1):.1f} %) lie "
        "outside their 90 % interval; about 10 % would by chance alone"
    )
    if csv is not None:
        scores.to_csv(csv, index=False)
        console.print(f"every image's scores: [bold]{csv}[/bold]")


@app.command()
def report(
    run: Run,
    dataset: Dataset,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    device: Device = "auto",
) -> None:
    """Write one self-contained HTML page on what the model learned.

    Evaluation table, predicted vs recorded per field, embedding map, retrieval examples,
    calibration curves and the audit's top suspects. Open it in any browser."""
    from cimp.report import report as write_report

    run = _trained_run(run)
    path = write_report(run, dataset, out, device, show_progress=_progress())
    console.print(f"report: [bold]{path}[/bold]")
