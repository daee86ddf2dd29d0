"""Seeded draws of whole acquisitions: settings, scene and image, reproducible per index."""

from __future__ import annotations

import numpy as np

from cimp.instrument.profile import Profile, default
from cimp.simulator import archive
from cimp.simulator.image import Acquisition, acquire
from cimp.simulator.scene import sample_scene
from cimp.simulator.settings import sample_dose_pair, sample_settings

SAMPLINGS = ("uniform", "archive")


def _rng(seed: int, index: int) -> np.random.Generator:
    """Image `index` of run `seed` gets its own stream: results do not depend on worker order."""
    return np.random.default_rng([seed, index])


def simulate(
    seed: int,
    index: int,
    size: int = 256,
    expected: bool = False,
    *,
    sampling: str = "archive",
    profile: Profile | None = None,
) -> Acquisition:
    """Image `index` of the run with seed `seed`, through the profile's detector: independent
    settings and scene (`uniform`), or the archive's session and menus (`archive`, see
    cimp.simulator.archive)."""
    profile = profile or default()
    if sampling == "archive":
        return archive_image(seed, index, size, profile, expected=expected)[0]
    if sampling != "uniform":
        raise ValueError(f"unknown sampling {sampling!r}: use one of {', '.join(SAMPLINGS)}")
    rng = _rng(seed, index)
    settings = sample_settings(rng, size)
    scene = sample_scene(rng, settings.fov)
    return acquire(scene, settings, rng, expected, det=profile.detector)


def archive_image(
    seed: int, index: int, size: int, profile: Profile, *, expected: bool = False
) -> tuple[Acquisition, archive.Draw]:
    """Image `index` of archive `seed`, through the profile's detector, and its draw."""
    drawn, rng = archive.draw(seed, index, size, profile)
    acq = acquire(
        drawn.scene, drawn.settings, rng, expected, fraction=drawn.fraction, det=profile.detector
    )
    return acq, drawn


def simulate_pair(
    seed: int, index: int, size: int = 256, expected: bool = True
) -> tuple[Acquisition, Acquisition]:
    """Scene `index` at a low and a high dose (same scene, same settings otherwise)."""
    rng = _rng(seed, index)
    low, high = sample_dose_pair(rng, size)
    scene = sample_scene(rng, low.fov)
    return acquire(scene, low, rng, expected), acquire(scene, high, rng, expected)
