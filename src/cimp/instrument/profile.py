"""An instrument profile: the menus an operator picks settings from, and how they pick.

A small JSON file (`profiles/titan.json` is the default): beam energies, convergence
apertures, camera lengths, dwell times, probe currents (spot sizes) and magnification steps
(as pixel sizes, steps of 10^(1/steps_per_decade)), the images per session, the contrast to
noise an operator accepts, where auto-contrast puts the black level, the share of mistakes,
and the detector chain's constants (`detector`; the default profile's when left out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from cimp.instrument.detector import DEFAULT_PROFILE, DETECTOR, Detector


@dataclass(frozen=True)
class Profile:
    """Menus and operator habits of one instrument."""

    name: str
    beam_energies_kv: tuple[float, ...]
    convergence_apertures_mrad: tuple[float, ...]
    camera_lengths_mm: tuple[float, ...]
    dwell_times_us: tuple[float, ...]
    beam_currents_pa: tuple[float, ...]
    pixel_size_nm: dict
    session_images: int
    acceptable_snr: float  # specimen contrast over shot noise an operator keeps
    auto_black_counts: tuple[float, float]
    gain_spread: float
    mistakes: dict
    detector: Detector = field(default=DETECTOR)

    @property
    def pixel_sizes(self) -> np.ndarray:
        """The magnification steps, as pixel sizes (nm), smallest first."""
        p = self.pixel_size_nm
        decades = np.log10(p["largest"] / p["smallest"])
        steps = round(decades * p["steps_per_decade"]) + 1
        return p["smallest"] * 10 ** (np.arange(steps) / p["steps_per_decade"])

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PROFILE) -> Profile:
        """A profile file; keys it does not use (a calibration's fits) are passed over."""
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        if "detector" in data:
            data["detector"] = Detector.from_dict(data["detector"])
        return cls(**data)


def default() -> Profile:
    return Profile.load(DEFAULT_PROFILE)
