"""A dataset at a glance: images per split, and each field's coverage and range."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cimp import schema


def field_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per numeric field present in the table: count, min, median, max, unit."""
    rows = []
    for f in schema.FIELDS:
        if f.kind != schema.NUMERIC or f.name not in table:
            continue
        values = table[f.name].to_numpy(dtype=np.float64)
        present = values[np.isfinite(values)]
        if present.size == 0:
            continue
        rows.append(
            {
                "field": f.name,
                "unit": f.unit,
                "present": f"{present.size}/{len(values)}",
                "min": present.min(),
                "median": float(np.median(present)),
                "max": present.max(),
            }
        )
    return pd.DataFrame(rows)


def split_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Images and sessions per split."""
    grouped = table.groupby("split", observed=True)
    return pd.DataFrame({"images": grouped.size(), "sessions": grouped["session"].nunique()})
