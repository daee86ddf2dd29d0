"""Commands that make and describe datasets: simulate, inspect, ingest, summary."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cimp.cli.app import app, console, fail


@app.command()
def simulate(
    out: Annotated[Path, typer.Argument(help="Folder to write the .hspy files into.")],
    n: Annotated[int, typer.Option("--n", help="Number of images (of scenes with --pairs).")] = 100,
    size: Annotated[int, typer.Option(help="Image width and height in pixels.")] = 256,
    seed: Annotated[int, typer.Option(help="Run seed; image i depends only on (seed, i).")] = 0,
    pairs: Annotated[
        bool, typer.Option(help="Write each scene twice, at a low and a high dose.")
    ] = False,
    workers: Annotated[
        int, typer.Option(help="Processes to simulate in parallel (default: one per core).")
    ] = os.cpu_count() or 1,
    sampling: Annotated[
        str | None,
        typer.Option(
            help="archive (default): sessions picked from an instrument's menus at doses an "
            "operator keeps, with a few mistakes; uniform: every setting drawn alone (the "
            "default for --pairs, the only sampling of dose pairs for now).",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            help="Instrument profile (JSON; `cimp calibrate` writes one): its detector and, "
            "for archive sampling, its menus. Default: a Titan-class profile."
        ),
    ] = None,
) -> None:
    """Simulate HAADF-STEM images with their acquisition metadata (HyperSpy .hspy files).

    Every recorded setting (pixel size, dwell time, convergence angle, beam current, detector
    gain and offset, inner collection angle) changes the image through its physics; the
    specimen (crystal, zone axis, thickness, support, particles, defects) varies freely.
    Files already present are kept, so an interrupted run completes when started again.
    """
    if n < 1 or size < 8 or workers < 1:
        fail("--n and --workers must be at least 1, --size at least 8")
    sampling = sampling or ("uniform" if pairs else "archive")
    if sampling not in ("uniform", "archive"):
        fail(f"--sampling {sampling}: use uniform or archive")
    if pairs and (sampling != "uniform" or profile is not None):
        fail("--pairs: dose pairs are drawn with uniform sampling and the default profile")
    from cimp.simulator.files import write_run

    loaded = _profile(profile) if profile is not None else None
    written = write_run(
        out,
        n,
        size,
        seed,
        workers=workers,
        show_progress=sys.stderr.isatty(),
        sampling="pairs" if pairs else sampling,
        profile=loaded,
    )
    kind = "dose pairs" if pairs else "images"
    console.print(f"{n} {kind} in [bold]{out}[/bold] ({written} files written now)")


def _profile(path: Path):
    """An instrument profile, or a one-line error that names what is wrong with it."""
    import json

    from cimp.instrument.profile import Profile

    try:
        return Profile.load(path)
    except (OSError, json.JSONDecodeError, TypeError, KeyError, ValueError) as err:
        fail(f"--profile {path}: not a readable instrument profile ({err})")


@app.command()
def inspect(
    files: Annotated[list[Path], typer.Argument(help="Microscope files to describe.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show what cimp reads from each image of FILES.

    Every canonical field with its unit and the vendor key it came from, the fields that
    are missing, and what was left out (spectra, placeholders, derived images).

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
        if image["origin"] == "derived":
            console.print(
                "  [bold yellow]derived:[/bold yellow] written by cimp (a dose transfer), "
                "not an acquisition; its settings are the transfer's target"
            )
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
    include_derived: Annotated[
        bool, typer.Option(help="Also take images cimp wrote (dose transfers).")
    ] = False,
) -> None:
    """Add every readable image under SOURCES to the dataset at --out.

    Bad files never stop the run: each is listed with its reason in OUT/skipped.csv.
    Re-running adds nothing twice; Ctrl-C or a kill keeps what was read, and the same
    command resumes where it stopped.
    """
    from cimp.ingest import ingest as run_ingest

    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        fail("--val and --test must be fractions with val + test < 1")
    splits = {"train": 1.0 - val - test, "val": val, "test": test}
    report = run_ingest(
        sources, out, splits, workers=workers, show_progress=sys.stderr.isatty(),
        include_derived=include_derived,
    )  # fmt: skip
    if report.interrupted:
        console.print(
            f"[yellow]interrupted:[/yellow] kept {report.images_added} images from "
            f"{report.files_read} files in {escape(str(out))}; run the same command again "
            "to resume",
            soft_wrap=True,
        )
        raise typer.Exit(130)
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


@app.command()
def calibrate(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder made by ingest.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Profile to write (JSON).")] = Path(
        "profile.json"
    ),
) -> None:
    """Measure an instrument profile from a dataset's own images.

    Per instrument and detector: black level against the recorded offset (from each image's
    dark end), counts per electron against the gain (photon transfer from frames of one
    series), and the menus of settings actually used. Writes a profile that
    `cimp simulate --sampling archive --profile` reads, and a figure beside it (.png).
    """
    from cimp.calibrate import calibrate as measure
    from cimp.calibrate import write

    profile = measure(dataset)
    path = write(profile, out)
    table = Table("instrument / detector", "images", "black level vs offset", "photon transfer")
    for name, entry in profile["calibration"].items():
        table.add_row(
            escape(name), str(entry["images"]), _fit(entry["black_level"]),
            _fit(entry["photon_transfer"]),
        )  # fmt: skip
    console.print(table)
    for what, source in profile["detector"]["measured"].items():
        console.print(f"detector {escape(what)}: {escape(source)}")
    console.print(f"profile: [bold]{path}[/bold]; figure: {path.with_suffix('.png')}")


def _fit(entry: dict) -> str:
    fit = entry.get("fit")
    if fit is None:
        return escape(entry.get("note") or entry["why"])
    return f"{fit['slope']:.4g} {fit['unit']} (R2 {fit['r2']:.2f}, {fit['points']} points)"
