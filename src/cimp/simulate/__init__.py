"""The digital twin: a fast physics-based HAADF-STEM image generator."""

from cimp.simulate.generate import simulate, simulate_pair
from cimp.simulate.image import Acquisition, acquire
from cimp.simulate.scene import Scene, sample_scene
from cimp.simulate.settings import Settings, sample_settings

__all__ = [
    "Acquisition",
    "Scene",
    "Settings",
    "acquire",
    "sample_scene",
    "sample_settings",
    "simulate",
    "simulate_pair",
]
