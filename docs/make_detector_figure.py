"""Draw docs/simulator_detector.png: the default detector beside what real Velox files show.

Run: `make figures` (needs `make test-data`). Left, photon transfer: noise variance against
signal above black in the Talos image `fei_emd_image.emd` (512 x 512, 20 us; per 8 px block,
the variance of row-to-row differences / 2 in the lower 10 % of blocks per signal bin, over
that quantile of a pure-noise block's variance: structure only adds variance, so these points
bound the noise from above) beside the model's curve at
the counts per electron they give, and the model at the Titan's gain 19.3 (~8 counts per
electron and ~45 counts of vacuum noise, measured on a Titan file not in the corpus). Right,
black level against offset: the two measured points, the 2017 Talos files' black levels
(offset not recorded), the model's line and where archive sampling puts auto-contrast.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rsciio.emd import file_reader
from scipy.stats import chi2

from cimp.instrument.detector import (
    DETECTOR,
    black_level,
    counts_per_electron,
    gain_for_counts,
    noise_floor,
)
from cimp.instrument.profile import default

OUT = Path(__file__).with_name("simulator_detector.png")
FILES = Path.home() / ".cache" / "cimp" / "test-data" / "hyperspy-1.7.6-io" / "emd_files"
BLOCK, BINS, LOWER = 8, 16, 10
DWELL_US = 20.0
EXCESS = 1.0 + 1.0 / DETECTOR.pulse_shape


def image(name: str) -> np.ndarray:
    return np.asarray(file_reader(str(FILES / name), select_type="images")[0]["data"], float)


def transfer_points(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(signal above black, noise variance) per signal bin, and the black level."""
    black = float(np.percentile(data, 0.1))
    rows = (data[1:] - data[:-1]) / np.sqrt(2)
    h, w = (s - s % BLOCK for s in rows.shape)

    def blocks(x):
        return x[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).swapaxes(1, 2)

    mean = blocks(data[:-1]).mean(axis=(2, 3)).ravel() - black
    var = blocks(rows).var(axis=(2, 3)).ravel()
    dof = BLOCK * BLOCK - 1
    quantile = chi2.ppf(LOWER / 100, dof) / dof  # of a noise-only block's variance
    edges = np.unique(np.quantile(mean, np.linspace(0, 1, BINS + 1)))
    x, y = [], []
    for lo, hi in itertools.pairwise(edges):
        inside = (mean >= lo) & (mean <= hi)
        if inside.sum() >= 20:
            x.append(np.median(mean[inside]))
            y.append(np.percentile(var[inside], LOWER) / quantile)
    return np.array(x), np.array(y), black


def main() -> None:
    if not FILES.exists():
        sys.exit(f"{FILES} missing: run `make test-data` first")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))

    x, y, black = transfer_points(image("fei_emd_image.emd"))
    floor = y[0] - x[0] * (y[-1] - y[0]) / (x[-1] - x[0])
    slope = float(np.polyfit(x, y - floor, 1)[0])
    left.plot(x, y, "o", label=f"Talos fei_emd_image.emd (black {black:,.0f})")
    gain = gain_for_counts(slope / EXCESS)
    signal = np.geomspace(1, 3e4, 100)
    for g, label in (
        (gain, f"model at {slope / EXCESS:.1f} counts/e"),
        (19.3, "model, Titan gain 19.3"),
    ):
        c = counts_per_electron(g)
        left.plot(signal, c * EXCESS * signal + noise_floor(g, DWELL_US) ** 2, "-", label=label)
    left.axhline(45.0**2, color="grey", ls=":", lw=1, label="Titan vacuum noise 45 counts")
    left.set(xscale="log", yscale="log", xlabel="signal above black (counts)",
             ylabel="noise variance (counts$^2$)", title="photon transfer")  # fmt: skip
    left.legend(fontsize=7)

    offsets = np.linspace(-3.5, 0.5, 50)
    right.plot(offsets, black_level(offsets), "k-", lw=1, label="model")
    right.plot([-1.0], [15300], "s", label="Titan HAADF, offset -1.0")
    right.plot([-1.704], [11776], "^", label="Talos fixture, offset -1.70 (dark end)")
    for name in ("fei_emd_image.emd", "fei_emd_si.emd"):
        right.axhline(np.percentile(image(name), 0.1), ls="--", lw=0.8, color="tab:green")
    right.axhspan(*default().auto_black_counts, alpha=0.15, label="archive auto-contrast")
    right.plot([], [], "--", color="tab:green", label="2017 Talos files (offset unrecorded)")
    right.set(xlabel="offset (vendor units)", ylabel="black level (counts)", title="black level")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}; Talos photon transfer {slope:.2f} counts^2 per count (upper bound)")


if __name__ == "__main__":
    main()
