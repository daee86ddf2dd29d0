"""The `cimp` command: thin layers that parse arguments, call the library, print results."""

from cimp.cli import datasets, denoising, serving, training, uses  # noqa: F401  (registers the commands)
from cimp.cli.app import app

__all__ = ["app"]
