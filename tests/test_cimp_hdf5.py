"""The public CIMP dataset layout: one HDF5 file, ingested with no code, in parts."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from cimp import io
from cimp.ingest import ingest
from cimp.inspect import inspect_file
from cimp.io import cimp_hdf5
from cimp.store import Store

LABELS = ["pixel size", "dwell time", "convergence angle", "beam current", "gain", "offset",
          "inner collection angle"]  # fmt: skip
SI_ROW = [2.1e-11, 4e-6, 0.0212, 5e-11, 41.0, -0.4, 0.052]  # as Velox writes them


def write_layout(path, n, group=False):
    rng = np.random.default_rng(0)
    raw = np.array(SI_ROW) * rng.uniform(0.8, 1.2, size=(n, 7))
    with h5py.File(path, "w") as f:
        images = rng.integers(0, 60000, size=(n, 32, 32), dtype=np.uint16)
        if group:
            g = f.create_group("full_res")
            for i in range(n):
                g[str(i)] = images[i]
        else:
            f["full_res"] = images
        f["metadata_raw"] = raw
        f["metadata"] = (raw - raw.mean(0)) / raw.std(0)
        f["metadata_labels"] = np.array(LABELS, dtype="S")
        f["stats_mean"], f["stats_std"] = raw.mean(0), raw.std(0)
        f["filepaths"] = np.array([f"series_{i // 10}.emd" for i in range(n)], dtype="S")
        f["frame_indices"] = np.arange(n) % 10
    return raw, images


@pytest.mark.parametrize("group", [False, True])
def test_layout_is_read_with_si_units_recognised(tmp_path, group):
    path = tmp_path / "cimp.h5"
    raw, images = write_layout(path, 5, group)
    records = io.read(path)
    assert len(records) == 5
    m = records[3].metadata
    assert m["pixel_size"] == pytest.approx(raw[3, 0] * 1e9)  # metres -> nm
    assert m["dwell_time"] == pytest.approx(raw[3, 1] * 1e6)
    assert m["convergence_angle"] == pytest.approx(raw[3, 2] * 1e3)
    assert m["beam_current"] == pytest.approx(raw[3, 3] * 1e12)
    assert (m["detector_gain"], m["detector_offset"]) == pytest.approx((raw[3, 4], raw[3, 5]))
    assert m["inner_collection_angle"] == pytest.approx(raw[3, 6] * 1e3)
    np.testing.assert_array_equal(records[3].image, images[3])
    assert records[3].session.endswith("series_0.emd")
    assert records[3].extra == {"source_file": "series_0.emd", "frame_in_source": "3"}


def test_units_come_from_labels_or_magnitude():
    assert cimp_hdf5.unit_of("Beam current (pA)", "beam_current", np.array([1e-10])) == "pA"
    assert cimp_hdf5.unit_of("beam current", "beam_current", np.array([5e-11])) == "A"
    assert cimp_hdf5.unit_of("beam current", "beam_current", np.array([50.0])) == "pA"
    assert cimp_hdf5.unit_of("pixel size", "pixel_size", np.array([0.02])) == "nm"


def test_large_file_is_ingested_in_parts_over_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(cimp_hdf5, "PART", 7)  # 30 images -> 5 parts
    path = tmp_path / "cimp.h5"
    write_layout(path, 30)
    assert io.parts(path) == 5
    report = ingest([path], tmp_path / "ds", workers=2, show_progress=False)
    assert (report.images_added, report.files_read) == (30, 1)
    table = Store(tmp_path / "ds").table()
    assert sorted(table["frame"]) == list(range(30))
    assert table.groupby("session")["split"].nunique().max() == 1  # a series never straddles
    assert ingest([path], tmp_path / "ds", show_progress=False).files_known == 1


def test_inspect_reads_a_large_file_part_by_part(tmp_path, monkeypatch):
    monkeypatch.setattr(cimp_hdf5, "PART", 4)
    write_layout(tmp_path / "cimp.h5", 10)
    described = inspect_file(tmp_path / "cimp.h5")
    assert described["error"] is None
    assert [f for image in described["images"] for f in image["frames"]] == list(range(10))
