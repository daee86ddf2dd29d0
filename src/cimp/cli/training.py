"""Commands that train and score a model: train, evaluate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cimp.cli.app import app, console
from cimp.config import TrainConfig as T
from cimp.config import default


@app.command()
def train(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder made by ingest.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for weights and logs.")],
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = T.steps,
    batch_size: Annotated[
        int, typer.Option(help="Global batch (split over processes).")
    ] = T.batch_size,
    crop: Annotated[int, typer.Option(help="Square crop in pixels (never resized).")] = T.crop,
    backbone: Annotated[str, typer.Option(help="Image encoder: cnn or vit.")] = T.backbone,
    widths: Annotated[str, typer.Option(help="CNN stage widths, comma separated.")] = ",".join(
        map(str, default(T, "widths"))
    ),
    physics: Annotated[
        bool,
        typer.Option(help="Fuse each crop's physics statistics (cimp.physics) into the CNN."),
    ] = T.physics,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, cosine).")] = T.lr,
    loss: Annotated[str, typer.Option(help="infonce or siglip.")] = T.loss,
    positive_radius: Annotated[
        float, typer.Option(help="Treat pairs with metadata this close (z units) as positives.")
    ] = T.positive_radius,
    field_dropout: Annotated[
        float, typer.Option(help="Chance of hiding each field.")
    ] = T.field_dropout,
    val_every: Annotated[int, typer.Option(help="Steps between validations.")] = T.val_every,
    workers: Annotated[int, typer.Option(help="Data-loading processes.")] = T.workers,
    seed: Annotated[int, typer.Option()] = T.seed,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = T.device,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out where it stopped.")
    ] = False,
) -> None:
    """Train image and metadata encoders contrastively on the dataset's train split.

    Validates (retrieval top-1 on the val split) and checkpoints every --val-every steps;
    --resume continues exactly after a kill.

    Several GPUs or nodes: torchrun --nproc-per-node 4 $(which cimp) train DATASET --out RUN
    """
    from cimp.train import train as run_training

    config = T(
        dataset=str(dataset),
        out=str(out),
        steps=steps,
        batch_size=batch_size,
        crop=crop,
        backbone=backbone,
        widths=[int(w) for w in widths.split(",")],
        physics=physics,
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
        run, dataset, out, supervised_steps, device, show_progress=sys.stderr.isatty()
    )
    from cimp.evaluate import markdown

    console.print(markdown(results))
    console.print(f"results, table and figures in [bold]{out}[/bold]")
