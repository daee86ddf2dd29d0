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
        if not ok.any():
            ax.set_title(f"{name}: not recorded", fontsize=8)
            continue
        ax.scatter(y[ok], p[ok], s=4, alpha=0.5)
        lo, hi = y[ok].min(), y[ok].max()
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


def thumbnail(image: np.ndarray, size: int = 128) -> np.ndarray:
    """A display copy: centre crop of at most `size` px, stretched 1-99 % (display only)."""
    h, w = image.shape
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    x = image[top : top + size, left : left + size].astype(np.float64)
    lo, hi = np.nanpercentile(x, [1, 99])
    return np.clip((x - lo) / (hi - lo if hi > lo else 1.0), 0, 1)


def contact_sheet(rows: list[list[tuple]], path: Path, title: str = "") -> None:
    """Rows of thumbnails; each item (image, caption, highlighted). Display contrast is
    stretched per thumbnail, so absolute intensity is not comparable between them."""
    cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.2 * cols, 2.5 * len(rows)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, row in enumerate(rows):
        for c, (image, caption, highlighted) in enumerate(row):
            ax = axes[r, c]
            ax.imshow(thumbnail(image), cmap="gray", vmin=0, vmax=1)
            ax.set_title(caption, fontsize=7, color="crimson" if highlighted else "black")
            if highlighted:
                ax.axis("on")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_color("crimson")
                    spine.set_linewidth(2.5)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def calibration_curves(coverage: dict, path: Path) -> None:
    """Stated level vs the share of held-out images inside the interval, one line per field."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
    for name, entry in coverage.items():
        levels = sorted(entry["levels"], key=float)
        ax.plot(
            [float(v) for v in levels],
            [entry["levels"][v]["coverage"] for v in levels],
            marker="o",
            ms=3,
            lw=1,
            label=name,
        )
    ax.set_xlabel("stated interval level")
    ax.set_ylabel("held-out images inside the interval")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def detector_calibration(detectors: dict, path: Path) -> None:
    """Per instrument and detector: dark end vs offset, and photon-transfer slope vs gain,
    with the fitted lines where there are any."""
    fig, axes = _grid(2 * max(len(detectors), 1))
    for k, (name, entry) in enumerate(detectors.items()):
        for ax, (key, x, y, xlabel, ylabel) in zip(
            (axes[2 * k], axes[2 * k + 1]),
            (("black_level", "offset", "dark_end", "offset (vendor units)", "dark end (counts)"),
             ("photon_transfer", "gain", "slope", "gain (vendor units)",
              "counts per electron x excess")),
            strict=True,
        ):  # fmt: skip
            points = [p for p in entry[key]["points"] if p[x] is not None]
            ax.scatter([p[x] for p in points], [p[y] for p in points], s=12)
            fit = entry[key].get("fit")
            if fit and points:
                xs = np.linspace(min(p[x] for p in points), max(p[x] for p in points), 50)
                line = fit["intercept"] + fit["slope"] * xs
                ax.plot(xs, 10**line if key == "photon_transfer" else line, "k-", lw=1)
                ax.set_title(f"{name}\nR2 {fit['r2']:.2f}", fontsize=8)
            else:
                why = entry[key].get("note") or entry[key].get("why", "no points")
                ax.set_title(f"{name}\n{why}", fontsize=8)
            if not points:
                ax.set_xticks([])
                ax.set_yticks([])
            ax.set_yscale("log" if key == "photon_transfer" and points else "linear")
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
