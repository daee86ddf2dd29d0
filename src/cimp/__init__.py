"""cimp: Contrastive Image-Metadata Pre-training for electron microscopy.

The Python API (see README, "Python API"): `Store`, `Run`, `read`, `simulate`, `predict`.
They are imported when first used, so `import cimp.io` stays light.
"""

__version__ = "0.1.0"

_API = {
    "Store": ("cimp.store", "Store"),
    "Run": ("cimp.run", "Run"),
    "read": ("cimp.io", "read"),
    "simulate": ("cimp.simulator", "simulate"),
    "predict": ("cimp.api", "predict"),
}
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'cimp' has no attribute {name!r}")
    import importlib

    module, attribute = _API[name]
    return getattr(importlib.import_module(module), attribute)
