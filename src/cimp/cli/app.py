"""The `cimp` application object, its console, and how a command fails.

A command fails by raising `CimpError` (or calling `fail`): the group prints the message on
one line and exits with status 2. Nothing else is caught, so a bug keeps its traceback.
"""

from __future__ import annotations

import inspect

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

import cimp
from cimp.errors import CimpError

WORKFLOW = (
    "simulate",
    "inspect",
    "ingest",
    "summary",
    "calibrate",
    "train",
    "evaluate",
    "embed",
    "search",
    "predict",
    "audit",
    "report",
    "train-denoiser",
    "denoise",
    "serve",
)
console = Console()


class _Commands(TyperGroup):
    """Commands listed in the order of a lab's workflow, their help in whole paragraphs; a
    CimpError becomes one line."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for command in (self, *self.commands.values()):
            command.help = paragraphs(command.help)

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: WORKFLOW.index(n) if n in WORKFLOW else len(WORKFLOW))

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CimpError as err:
            console.print(f"[red]error:[/red] {escape(str(err))}", soft_wrap=True)
            raise typer.Exit(2) from None


def paragraphs(text: str | None) -> str | None:
    """A docstring with each paragraph on one line: typer keeps the line breaks after the
    first paragraph, and rich then wraps each line again, breaking sentences mid-line."""
    if not text:
        return text
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(text).split("\n\n"))


app = typer.Typer(
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"cimp {cimp.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """cimp: learn what your microscope files say about themselves.

    Contrastive Image-Metadata Pre-training for HAADF-STEM: simulate data, ingest vendor
    files into a dataset, train image/metadata encoders on it, then search, recover
    metadata, audit an archive and report on it. Commands are listed in workflow order.
    """


def fail(message: str) -> None:
    """Stop the command with a one-line error (status 2)."""
    raise CimpError(message)
