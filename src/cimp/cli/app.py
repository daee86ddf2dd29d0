"""The `cimp` application object, its console, and how a command fails."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    help="cimp: learn what your microscope files say about themselves.\n\n"
    "Contrastive Image-Metadata Pre-training for HAADF-STEM: simulate data, ingest vendor "
    "files into a dataset, train image/metadata encoders on it, then search, recover "
    "metadata, audit an archive and report on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def fail(message: str) -> None:
    """Print the error and leave with status 2."""
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)
