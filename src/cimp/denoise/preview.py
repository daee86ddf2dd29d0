"""A side-by-side PNG of a dose transfer: did anything appear that the input does not show?

Four panels: the input; the output (its display range the input's, taken to the target
dose, so equal brightness means equal signal per electron of dose); the difference per
pixel in units of the input's expected noise; and the same for 4x4 block means, the scale
the content check (`consistency.outside`) works at. Pixels saturated at the target dose are
grey. Both difference panels should look
like featureless noise of unit spread: a shape there is a shape the output changed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimp.denoise.consistency import residuals
from cimp.denoise.electrons import Calibration


def write_preview(path, image: np.ndarray, output: np.ndarray, ratio: float, *, cal: Calibration):
    """Write the four panels to `path` (a PNG file's path, or a binary file object) and
    return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pixel, block = residuals(image, output, ratio, cal)
    lo, hi = np.percentile(image, [0.5, 99.5])
    at_target = [cal.black + ratio * (v - cal.black) for v in (lo, hi)]
    panels = [
        ("input", image, dict(cmap="gray", vmin=lo, vmax=hi)),
        (
            f"output (x{ratio:.3g} dose)",
            output,
            dict(cmap="gray", vmin=at_target[0], vmax=at_target[1]),
        ),
        ("input - output, per pixel (sigma)", pixel, dict(cmap="coolwarm", vmin=-3, vmax=3)),
        ("input - output, 4x4 blocks (sigma)", block, dict(cmap="coolwarm", vmin=-3, vmax=3)),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    for ax, (title, data, style) in zip(axes, panels, strict=True):
        if "sigma" in title:
            data = np.ma.masked_invalid(data)
            style["cmap"] = matplotlib.colormaps["coolwarm"].with_extremes(bad="0.6")
        shown = ax.imshow(data, interpolation="nearest", **style)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if "sigma" in title:
            fig.colorbar(shown, ax=ax, fraction=0.046)
    known = np.isfinite(block)  # consistency.outside, from the same residuals
    outside = float(np.mean(np.abs(block[known]) > 3)) if known.any() else 0.0
    saturated = (
        f"; {100 * (1 - known.mean()):.1f} % of blocks saturated (grey)" if not known.all() else ""
    )
    fig.suptitle(
        f"4x4 blocks beyond 3 sigma: {100 * outside:.2f} % (noise alone: 0.27 %){saturated}; "
        f"black level {cal.black:.0f} counts ({cal.black_from}), {cal.gain:.3g} counts/electron",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path) if isinstance(path, str | Path) else path
    fig.savefig(path, dpi=90, format="png")
    plt.close(fig)
    return path
