"""The `cimp` command: parses arguments, calls the library, prints results."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
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
def inspect(
    files: Annotated[list[Path], typer.Argument(help="Microscope files to describe.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show what cimp reads from each image of FILES: every canonical field with its unit
    and the vendor key it came from, the fields that are missing, and what was left out.

    Exits with status 1 if any file could not be read.
    """
    import json

    from cimp.inspect import inspect_file

    described = [inspect_file(path) for path in files]
    if as_json:
        print(json.dumps(described, indent=2, default=str))
    else:
        for entry in described:
            _print_inspection(entry)
    if any(entry["error"] for entry in described):
        raise typer.Exit(1)


def _print_inspection(entry: dict) -> None:
    console.rule(f"[bold]{escape(entry['path'])}[/bold]")
    if entry["error"]:
        console.print(f"[red]unreadable:[/red] {escape(entry['error'])}")
        return
    for image in entry["images"]:
        frames = image["frames"]
        which = f"frame {frames[0]}" if len(frames) == 1 else f"frames {frames[0]}-{frames[-1]}"
        shape = "x".join(map(str, image["shape"]))
        title = f"{which}  {image['signal']}  {shape} {image['dtype']}"
        table = Table("field", "value", "unit", "from (key in the file)", title=title)
        for name, field in image["fields"].items():
            value = field["value"]
            shown = f"{value:.6g}" if isinstance(value, float) else str(value)
            table.add_row(name, escape(shown), field["unit"], escape(field["from"]))
        console.print(table)
        for name, note in image["ignored"].items():
            console.print(f"  [yellow]ignored[/yellow] {name}: {escape(note)}")
        if image["missing_core"]:
            console.print(
                f"  [yellow]missing core fields:[/yellow] {', '.join(image['missing_core'])}"
            )
        others = [n for n in image["missing"] if n not in image["missing_core"]]
        if others:
            console.print(f"  missing optional fields: {', '.join(others)}")
    for item in entry["skipped"]:
        console.print(f"  [dim]left out[/dim] {escape(item['what'])}: {escape(item['reason'])}")


@app.command()
def ingest(
    sources: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder (created if new).")],
    val: Annotated[float, typer.Option(help="Fraction of sessions for validation.")] = 0.1,
    test: Annotated[float, typer.Option(help="Fraction of sessions held out for testing.")] = 0.1,
    workers: Annotated[int, typer.Option(help="Processes reading files.")] = min(
        4, os.cpu_count() or 1
    ),
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
        report = run_ingest(
            sources, out, splits, workers=workers, show_progress=sys.stderr.isatty()
        )
    except (ValueError, FileExistsError) as err:
        _fail(str(err))
    console.print(
        f"added [bold]{report.images_added}[/bold] images from {report.files_read} files; "
        f"{report.files_known} files were already in the dataset, "
        f"{report.duplicates} duplicate images ignored, {len(report.skipped)} files skipped"
    )
    if report.skipped:
        table = Table("files", "why skipped", "for example", title="skipped files")
        for reason, count, example in report.reasons():
            table.add_row(str(count), escape(reason), escape(Path(example).name))
        console.print(table)
        console.print(f"every skipped file with its reason: {out / 'skipped.csv'}")


@app.command()
def summary(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder made by ingest.")],
) -> None:
    """Print a dataset's splits and the range of every metadata field."""
    from cimp.store import Store
    from cimp.summary import field_summary, split_counts

    try:
        table = Store(dataset).table()
    except FileNotFoundError as err:
        _fail(str(err))
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


@app.command()
def train(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder made by ingest.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for weights and logs.")],
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 2000,
    batch_size: Annotated[int, typer.Option(help="Global batch (split over processes).")] = 128,
    crop: Annotated[int, typer.Option(help="Square crop in pixels (never resized).")] = 128,
    backbone: Annotated[str, typer.Option(help="Image encoder: cnn or vit.")] = "cnn",
    widths: Annotated[
        str, typer.Option(help="CNN stage widths, comma separated.")
    ] = "32,64,128,256",
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, cosine).")] = 2e-3,
    loss: Annotated[str, typer.Option(help="infonce or siglip.")] = "infonce",
    positive_radius: Annotated[
        float, typer.Option(help="Treat pairs with metadata this close (z units) as positives.")
    ] = 0.0,
    field_dropout: Annotated[float, typer.Option(help="Chance of hiding each field.")] = 0.15,
    val_every: Annotated[int, typer.Option(help="Steps between validations.")] = 250,
    workers: Annotated[int, typer.Option(help="Data-loading processes.")] = 0,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out where it stopped.")
    ] = False,
) -> None:
    """Train image and metadata encoders contrastively on the dataset's train split.

    Validates (retrieval top-1 on the val split) and checkpoints every --val-every steps;
    --resume continues exactly after a kill.

    Several GPUs or nodes: torchrun --nproc-per-node 4 $(which cimp) train DATASET --out RUN
    """
    from cimp.train import TrainConfig
    from cimp.train import train as run_training

    config = TrainConfig(
        dataset=str(dataset),
        out=str(out),
        steps=steps,
        batch_size=batch_size,
        crop=crop,
        backbone=backbone,
        widths=[int(w) for w in widths.split(",")],
        lr=lr,
        loss=loss,
        positive_radius=positive_radius,
        field_dropout=field_dropout,
        val_every=val_every,
        checkpoint_every=val_every,
        workers=workers,
        seed=seed,
        device=device,
    )
    try:
        run = run_training(config, resume=resume, show_progress=sys.stderr.isatty())
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        _fail(str(err))
    console.print(f"trained model in [bold]{run}[/bold]; validation log in {run / 'log.jsonl'}")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder made by train.")],
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (its test split is used).")],
    out: Annotated[Path | None, typer.Option(help="Folder for results and figures.")] = None,
    supervised_steps: Annotated[
        int | None, typer.Option(help="Steps for the supervised baseline (default: as trained).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
) -> None:
    """Score a trained model on held-out images, beside two baselines.

    Cross-modal retrieval (top-1/top-5 both ways, with chance level); every field recovered
    from frozen image embeddings by a ridge probe and by k-NN (R2, MAE, SMAPE); the same for
    hand-crafted image statistics and for a supervised CNN of the same size.
    """
    from cimp.evaluate import evaluate as run_evaluation

    if not (run / "model.safetensors").exists():
        _fail(f"{run} holds no trained model (model.safetensors)")
    out = out or run / "evaluation"
    try:
        results = run_evaluation(
            run, dataset, out, supervised_steps, device, show_progress=sys.stderr.isatty()
        )
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))
    from cimp.evaluate import markdown

    console.print(markdown(results))
    console.print(f"results, table and figures in [bold]{out}[/bold]")


if __name__ == "__main__":
    app()
