"""Figures of what a model learned: predicted vs recorded fields, a 2-D map of embeddings."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cimp import schema


def _grid(n: int):
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat


def _label(name: str) -> str:
    f = schema.field(name)
    unit = f" ({f.unit})" if f.unit else ""
    return f"log10 {name}{unit}" if f.log else f"{name}{unit}"


def predicted_vs_recorded(recorded: dict, predicted: dict, path: Path) -> None:
    """One panel per field, in the normalised space (log10 for scale-like fields)."""
    fig, axes = _grid(len(recorded))
    for ax, name in zip(axes, recorded, strict=False):
        y, p = recorded[name], predicted[name]
        ok = np.isfinite(y)
        ax.scatter(y[ok], p[ok], s=4, alpha=0.5)
        lo, hi = np.nanmin(y), np.nanmax(y)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"recorded {_label(name)}", fontsize=8)
        ax.set_ylabel("predicted", fontsize=8)
    fig.suptitle("Metadata recovered from pixels (linear probe on frozen image embeddings)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def embedding_map(embeddings: np.ndarray, recorded: dict, path: Path) -> None:
    """First two principal components of the image embeddings, coloured by each field."""
    centred = embeddings - embeddings.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    fig, axes = _grid(len(recorded))
    for ax, (name, values) in zip(axes, recorded.items(), strict=False):
        points = ax.scatter(xy[:, 0], xy[:, 1], c=values, s=4, cmap="viridis")
        fig.colorbar(points, ax=ax, shrink=0.8).set_label(_label(name), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Image embeddings (PCA), coloured by recorded metadata")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
