"""A run folder made by `cimp train`, as `Store` is a dataset folder.

RUN/config.json          training settings and the model's configuration (RunConfig)
RUN/normalizer.json      field statistics of the training split
RUN/domain.json          what the run was trained on (cimp.domain)
RUN/model.safetensors    weights of the latest checkpoint
RUN/state.safetensors    optimizer moments, step and RNG state, for exact resume
RUN/log.jsonl            one line per validation
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from cimp import schema
from cimp.checkpoint import file_id, load_weights
from cimp.config import RunConfig
from cimp.errors import CimpError
from cimp.model import CIMP

CONFIG = "config.json"
NORMALIZER = "normalizer.json"
DOMAIN = "domain.json"
WEIGHTS = "model.safetensors"
STATE = "state.safetensors"
LOG = "log.jsonl"
FILES = (CONFIG, WEIGHTS, NORMALIZER, DOMAIN)  # what a copy of the run needs


class Run:
    """A trained run: its typed configuration, normaliser, weights and their hash."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / WEIGHTS).exists():
            raise CimpError(f"{self.path} holds no trained model ({WEIGHTS}): make one with "
                            "`cimp train`")  # fmt: skip

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @cached_property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(json.loads((self.path / CONFIG).read_text()))

    @cached_property
    def normalizer(self) -> schema.Normalizer:
        return schema.Normalizer.load(self.path / NORMALIZER)

    @cached_property
    def weights_id(self) -> str:
        """A short hash of the weights: what the run's embeddings and predictor belong to."""
        return file_id(self.path / WEIGHTS)

    @property
    def dataset(self) -> Path:
        """The dataset the run was trained on (saved as an absolute path; a relative one is
        taken from the current folder)."""
        return Path(self.config.train.dataset).resolve()

    def load_model(self, device="cpu") -> CIMP:
        """The trained model, in eval mode, on `device`."""
        model = CIMP(self.config.model)
        load_weights(model, self.path / WEIGHTS)
        return model.to(device).eval()


def as_run(run: str | Path | Run) -> Run:
    """A Run from a folder, or the Run given (its config and weights hash read once)."""
    return run if isinstance(run, Run) else Run(run)
