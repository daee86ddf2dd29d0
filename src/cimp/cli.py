"""The `cimp` command: parses arguments, calls the library, prints results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="cimp: learn what your microscope files say about themselves.\n\n"
    "Contrastive Image-Metadata Pre-training for HAADF-STEM: simulate data, ingest vendor "
    "files into a dataset, and train image/metadata encoders on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


@app.command()
def simulate(
    out: Annotated[Path, typer.Argument(help="Folder to write the .hspy files into.")],
    n: Annotated[int, typer.Option("--n", help="Number of images (of scenes with --pairs).")] = 100,
    size: Annotated[int, typer.Option(help="Image width and height in pixels.")] = 256,
    seed: Annotated[int, typer.Option(help="Run seed; image i depends only on (seed, i).")] = 0,
    pairs: Annotated[
        bool, typer.Option(help="Write each scene twice, at a low and a high dose.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Processes to simulate in parallel.")] = 1,
) -> None:
    """Simulate HAADF-STEM images with their acquisition metadata (HyperSpy .hspy files).

    Every recorded setting (pixel size, dwell time, convergence angle, beam current, detector
    gain and offset, inner collection angle) changes the image through its physics; the
    specimen (crystal, zone axis, thickness, support, particles, defects) varies freely.
    Files already present are kept, so an interrupted run completes when started again.
    """
    if n < 1 or size < 8 or workers < 1:
        _fail("--n and --workers must be at least 1, --size at least 8")
    from cimp.io.simulated import write_run

    written = write_run(out, n, size, seed, pairs, workers, show_progress=sys.stderr.isatty())
    kind = "dose pairs" if pairs else "images"
    console.print(f"{n} {kind} in [bold]{out}[/bold] ({written} files written now)")


@app.command()
def ingest(
    sources: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder (created if new).")],
    val: Annotated[float, typer.Option(help="Fraction of sessions for validation.")] = 0.1,
    test: Annotated[float, typer.Option(help="Fraction of sessions held out for testing.")] = 0.1,
) -> None:
    """Add every readable image under SOURCES to the dataset at --out.

    Bad files never stop the run: each is listed with its reason in OUT/skipped.csv.
    Re-running adds nothing twice; a killed run resumes where it stopped.
    """
    from cimp.ingest import ingest as run_ingest

    missing = [str(s) for s in sources if not s.exists()]
    if missing:
        _fail(f"no such file or folder: {', '.join(missing)}")
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        _fail("--val and --test must be fractions with val + test < 1")
    splits = {"train": 1.0 - val - test, "val": val, "test": test}
    try:
        report = run_ingest(sources, out, splits, show_progress=sys.stderr.isatty())
    except (ValueError, FileExistsError) as err:
        _fail(str(err))
    console.print(
        f"added [bold]{report.images_added}[/bold] images from {report.files_read} files; "
        f"{report.files_known} files were already in the dataset, "
        f"{report.duplicates} duplicate images ignored, {len(report.skipped)} files skipped"
    )
    if report.skipped:
        table = Table("skipped file", "reason", title=f"skipped (all in {out / 'skipped.csv'})")
        for path, reason in report.skipped[:20]:
            table.add_row(path, reason)
        console.print(table)


@app.command()
def summary(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder made by ingest.")],
) -> None:
    """Print a dataset's splits and the range of every metadata field."""
    from cimp.store import Store
    from cimp.summary import field_summary, split_counts

    if not (dataset / "dataset.json").exists():
        _fail(f"{dataset} is not a cimp dataset (no dataset.json); make one with `cimp ingest`")
    table = Store(dataset).table()
    splits = Table("split", "images", "sessions", title=f"{dataset}: {len(table)} images")
    for name, row in split_counts(table).iterrows():
        splits.add_row(str(name), str(row["images"]), str(row["sessions"]))
    console.print(splits)
    fields = Table("field", "unit", "present", "min", "median", "max", title="metadata fields")
    for _, row in field_summary(table).iterrows():
        fields.add_row(
            row["field"],
            row["unit"],
            row["present"],
            *(f"{row[k]:.4g}" for k in ("min", "median", "max")),
        )
    console.print(fields)


if __name__ == "__main__":
    app()
