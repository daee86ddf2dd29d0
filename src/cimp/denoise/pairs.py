"""Dose pairs in a dataset: the same scene recorded at a low and a higher dose.

Two rows pair when they share a session (the simulator's `--pairs` gives each scene its
own) and every recorded setting but dwell time and beam current, and the second has
the higher dose. Noise in the high-dose image is zero-mean, so regressing on it learns the
clean image (Noise2Noise): the pairs need no noise-free ground truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cimp import schema
from cimp.denoise.condition import DOSE_FIELDS


def dose(table: pd.DataFrame) -> np.ndarray:
    """Dwell time x beam current (NaN where either is missing)."""
    return (table["dwell_time"] * table["beam_current"]).to_numpy(dtype=np.float64)


def dose_pairs(table: pd.DataFrame, min_ratio: float = 1.5) -> pd.DataFrame:
    """(low, high, ratio, split): row positions of the lowest- and highest-dose image of
    every session whose images differ only in dose, where high/low >= min_ratio."""
    others = [n for n in schema.NUMERIC_NAMES if n not in DOSE_FIELDS and n in table]
    d = pd.Series(dose(table), index=table.index)
    rows = []
    for _, group in table[np.isfinite(d.to_numpy())].groupby("session", sort=False):
        if len(group) < 2:
            continue
        settings = group[others].to_numpy(dtype=np.float64)
        if not np.allclose(settings, settings[0], rtol=1e-6, equal_nan=True):
            continue
        lo, hi = d[group.index].idxmin(), d[group.index].idxmax()
        if d[hi] >= min_ratio * d[lo]:
            rows.append((lo, hi, d[hi] / d[lo], table.at[lo, "split"]))
    return pd.DataFrame(rows, columns=["low", "high", "ratio", "split"])
