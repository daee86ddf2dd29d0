"""The Python API: what the command line does, on arrays and signals already in memory.

    import cimp
    run = cimp.Run("demo-output/run")
    table = cimp.predict(run, image)  # a 2-D array, a rosettasciio signal dict, or a file

`cimp.read(path)` gives a file's records, `cimp.Store(folder)` a dataset, `cimp.simulate(seed,
index)` one simulated acquisition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cimp.errors import CimpError


def records_of(data, name: str = "<array>") -> list:
    """Records from a 2-D array (no metadata), a rosettasciio signal dict (HyperSpy
    metadata conventions and its axes), a list of those, or a file path."""
    from cimp import io
    from cimp.io import hspy, signals

    if isinstance(data, str | Path):
        return io.read(data)
    if isinstance(data, np.ndarray):
        return [io.Record(data, {}, {}, name)]
    if isinstance(data, dict):
        found = signals.to_records(name, [data], hspy.metadata_of)
        records = [r for r in found if isinstance(r, io.Record)]
        if not records:
            raise CimpError("; ".join(s.reason for s in found) or "the signal holds no image")
        return records
    if isinstance(data, list | tuple):
        return [r for item in data for r in records_of(item, name)]
    raise CimpError(f"cannot read a {type(data).__name__}: give an array, a signal dict or a path")


def predict(run, data, level: float = 0.9, dataset=None, *, device: str = "auto") -> pd.DataFrame:
    """One row per image: each field's value and `level` interval (`FIELD`, `FIELD_low`,
    `FIELD_high`, canonical units), and `out_of_domain`: every way the image lies outside
    what the run was trained on (empty when none)."""
    from cimp import recovery as predicting
    from cimp.run import as_run

    run = as_run(run)
    predictor = predicting.for_run(run, dataset, device, show_progress=False)
    rows = []
    for entry in predicting.predict_records(run, records_of(data), predictor, level, device=device):
        if "error" in entry:
            raise CimpError(entry["error"])
        row = {"frame": entry["frame"], "out_of_domain": entry["out_of_domain"]}
        for name, f in entry["fields"].items():
            row |= {name: f["value"], f"{name}_low": f["low"], f"{name}_high": f["high"]}
        rows.append(row)
    return pd.DataFrame(rows)
