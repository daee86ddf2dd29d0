"""Shared helpers: scenes with every nuisance switched off, so one mechanism can be measured."""

from __future__ import annotations

import numpy as np
import pytest

from cimp.simulator import Settings
from cimp.simulator.scene import quiet_scene  # noqa: F401  (used by the tests)


def text_of(result) -> str:
    """A CLI result's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def settings(**changes) -> Settings:
    """Mid-range settings, with `changes` applied."""
    base = dict(
        pixel_size=0.02,
        dwell_time=10.0,
        convergence_angle=25.0,
        beam_current=20.0,
        detector_gain=24.0,
        detector_offset=-2.0,
        inner_collection_angle=70.0,
        size=128,
    )
    return Settings(**{**base, **changes})


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def tiny_train_config(dataset, out, **changes):
    """A training run small enough for a test: 32 px crops, two CNN stages, six steps."""
    from cimp.config import TrainConfig

    base = dict(
        dataset=str(dataset),
        out=str(out),
        crop=32,
        batch_size=8,
        steps=6,
        warmup=2,
        widths=[8, 16],
        embed_dim=16,
        val_every=3,
        checkpoint_every=3,
        seed=5,
    )
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A dataset of 48 simulated 48 x 48 images (independent settings), half in the train split."""
    from cimp.ingest import ingest
    from cimp.simulator.files import write_run

    root = tmp_path_factory.mktemp("tiny")
    write_run(root / "raw", 48, size=48, seed=11, sampling="uniform", show_progress=False)
    ingest(
        [root / "raw"], root / "ds", {"train": 0.5, "val": 0.25, "test": 0.25}, show_progress=False
    )
    return root / "ds"


@pytest.fixture(scope="session")
def real_files():
    """The real instrument files of the hyperspy 1.7.6 sdist (fetched by `make test-data`)."""
    from fetch_real_files import DONE, cache_dir

    folder = cache_dir()
    if not (folder / DONE).exists():  # a failure, not a skip: a green run without them misleads
        pytest.fail(f"real instrument files not in {folder}: run `make test-data`", False)
    return folder


@pytest.fixture(scope="session")
def trained(tiny_dataset, tmp_path_factory):
    """A small model trained on a private copy of the tiny dataset, and its embeddings."""
    import shutil

    from cimp.embeddings import embed_dataset
    from cimp.train import train

    root = tmp_path_factory.mktemp("uses")
    dataset = shutil.copytree(tiny_dataset, root / "ds")
    run = train(tiny_train_config(dataset, root / "run", steps=20), show_progress=False)
    return run, dataset, embed_dataset(run, dataset, "cpu", show_progress=False)
