"""The digital twin: a fast physics-based HAADF-STEM image generator (docs/simulator.md).

`simulate(seed, index, size)` is the Python API's `cimp.simulate`.
"""

from cimp.simulator.generate import simulate, simulate_pair
from cimp.simulator.image import Acquisition, acquire
from cimp.simulator.scene import Scene, sample_scene
from cimp.simulator.settings import Settings, sample_settings

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
