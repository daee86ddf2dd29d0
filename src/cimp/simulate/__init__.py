"""The digital twin: a fast physics-based HAADF-STEM image generator.

`cimp.simulate(seed, index, size)` calls `simulate`: the package itself is callable, so the
Python API's `cimp.simulate` is the same object whether or not the package was imported.
"""

import sys
import types

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


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
