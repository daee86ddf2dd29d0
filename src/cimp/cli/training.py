"""Commands that train and score a model: train, evaluate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cimp.cli.app import app, console
from cimp.cli.options import options_from
from cimp.config import TrainConfig as T


@app.command()
@options_from(T)
def train(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder made by ingest.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for weights and logs.")],
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out where it stopped.")
    ] = False,
    options: dict | None = None,
) -> None:
    """Train image and metadata encoders contrastively on the dataset's train split.

    Validates (retrieval top-1 on the val split) and checkpoints every --val-every steps;
    --resume continues exactly after a kill.

    Several GPUs or nodes: torchrun --nproc-per-node 4 $(which cimp) train DATASET --out RUN
    """
    from cimp.train import train as run_training

    config = T(dataset=str(dataset), out=str(out), checkpoint_every=options["val_every"], **options)
    run = run_training(config, resume=resume, show_progress=sys.stderr.isatty())
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
    from cimp.run import Run

    run = Run(run)
    out = out or run.path / "evaluation"
    results = run_evaluation(
        run, dataset, out, supervised_steps, device=device, show_progress=sys.stderr.isatty()
    )
    from cimp.evaluate import markdown

    console.print(markdown(results))
    console.print(f"results, table and figures in [bold]{out}[/bold]")
