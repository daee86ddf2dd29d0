"""The command that serves the explorer: serve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cimp.cli.app import app, console


@app.command()
def serve(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (made by ingest).")],
    run: Annotated[
        Path | None,
        typer.Option(help="Run whose embeddings (cimp embed) give neighbours, search, map."),
    ] = None,
    denoiser: Annotated[
        Path | None, typer.Option(help="Denoiser run: a dose-transfer preview per image.")
    ] = None,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[
        str, typer.Option(help="Address to listen on; other than 127.0.0.1 opens it to others.")
    ] = "127.0.0.1",
) -> None:
    """Browse DATASET in a web browser: a filterable grid, image pages, neighbours, a map.

    Read-only, and bound to this machine unless --host says otherwise.
    """
    import uvicorn

    from cimp.serve.app import create_app
    from cimp.serve.archive import Archive

    archive = Archive(dataset, run, denoiser=denoiser)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]note[/yellow]: listening on {escape(host)}: others can reach it")
    console.print(f"cimp explorer of {escape(str(dataset))} at http://{escape(host)}:{port}/")
    uvicorn.run(create_app(archive), host=host, port=port, log_level="warning")
