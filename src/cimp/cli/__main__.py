"""`python -m cimp.cli` (as torchrun starts it)."""

from cimp.cli import app

app()
