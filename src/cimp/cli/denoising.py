"""Commands for dose transfer: train-denoiser, denoise."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cimp.cli.app import app, console, fail
from cimp.cli.options import options_from
from cimp.config import DenoiserConfig as D
from cimp.config import TransferConfig


@app.command("train-denoiser")
@options_from(D)
def train_denoiser(
    run: Annotated[Path, typer.Argument(help="CIMP run folder (frozen; made by train).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Denoiser run folder (DRUN).")],
    dataset: Annotated[
        Path | None,
        typer.Argument(help="Optional dataset with dose pairs (simulate --pairs, or a lab's)."),
    ] = None,
    options: dict | None = None,
) -> None:
    """Train the FiLM U-Net that re-renders images at a higher dose, on top of a CIMP run.

    It learns from the digital twin (noisy image, noise-free target) and, if given, from a
    dataset's dose pairs: images of one session that differ only in dwell time and current.
    After the last step, how much of the U-Net's detail to keep at each signal-to-noise ratio
    is fitted on more twin cases (their truth known; none with under 64 twin cases).
    The defaults are the benchmark's recipe: 50 minutes, as many steps as fit in them.
    """
    from cimp.denoise.train import train_denoiser as run_training
    from cimp.run import Run

    Run(run)  # a folder without a trained model is one line of error
    config = D(
        run=str(run), out=str(out), dataset=None if dataset is None else str(dataset), **options
    )
    drun = run_training(config, show_progress=sys.stderr.isatty())
    console.print(f"denoiser saved in {escape(str(drun))}")
    saved = json.loads((drun / "config.json").read_text())
    if saved["kept_step"] != saved["steps_done"]:
        console.print(
            f"[yellow]note:[/yellow] the validation loss collapsed after step "
            f"{saved['kept_step']}: that step's U-Net was saved, not the last (try a lower --lr)"
        )


@app.command()
@options_from(TransferConfig)
def denoise(
    drun: Annotated[Path, typer.Argument(help="Denoiser run folder (train-denoiser).")],
    files: Annotated[list[Path], typer.Argument(help="Images to re-render.")],
    options: dict | None = None,
) -> None:
    """Re-render FILES as if acquired with a longer dwell time and/or a higher beam current.

    Writes <name>-dose-x<ratio> beside each input (HyperSpy or 32-bit TIFF) with the target
    settings, the source's, and a record of what was done. Counts relate to electrons by the
    instrument profile and each file's gain and offset.
    """
    from cimp.denoise.apply import Denoiser
    from cimp.denoise.files import denoise_files
    from cimp.instrument.profile import Profile

    asked = TransferConfig(**options)
    if not asked.changes:
        fail("say what dose to reach: --dwell-time x4 and/or --beam-current x2 (or values)")
    out_dir = None if asked.out_dir is None else Path(asked.out_dir)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    profile = None if asked.profile is None else Profile.load(asked.profile)
    denoiser = Denoiser(drun, asked.device, profile)
    results = denoise_files(
        denoiser,
        files,
        asked.changes,
        out_dir,
        fmt=asked.output_format,
        tile=asked.tile,
        show_progress=sys.stderr.isatty(),
        preview=asked.preview,
    )
    table = Table()
    for column in ("source", "frame", "dose", "written"):
        table.add_column(column, overflow="fold")
    for r in results:
        frame = "-" if r["frame"] is None else str(r["frame"])
        if r["error"]:
            table.add_row(escape(r["source"]), frame, "", f"[red]{escape(r['error'])}[/red]")
        else:
            table.add_row(escape(r["source"]), frame, f"x{r['ratio']:.3g}", escape(r["output"]))
    console.print(table)
    for r in results:
        if "preview" in r:
            console.print(f"  preview: {escape(r['preview'])}")
        for note in r.get("notes", []):
            where = f"{Path(r['source']).name} frame {r['frame']}"
            console.print(f"  [yellow]note[/yellow] {escape(where)}: {escape(note)}")
    if any(r["error"] for r in results):
        raise typer.Exit(1)
