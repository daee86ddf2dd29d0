"""Records refuse what is not an image, with a reason an ingest report can show."""

import numpy as np
import pytest

from cimp.io import Record, UnreadableFile, read
from cimp.io.record import set_field


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (np.zeros((4, 4, 4)), "not a 2-D image"),
        (np.zeros((1, 1)), "too small"),
        (np.full((8, 8), np.nan), "no finite value"),
        (np.zeros((8, 8), dtype=complex), "not a real-valued image"),
        (np.full((8, 8), 65535, dtype=np.uint16), "blank image"),
    ],
)
def test_records_refuse_non_images(image, reason):
    with pytest.raises(UnreadableFile, match=reason):
        Record(image, {}, {}, "x")


def test_unknown_suffix_is_unreadable(tmp_path):
    path = tmp_path / "scan.xyz"
    path.write_text("1 2 3")
    with pytest.raises(UnreadableFile, match=r"no reader for \.xyz"):
        read(path)


def test_vendor_values_are_converted_and_implausible_ones_left_out():
    fields, provenance = {}, {}
    set_field(fields, provenance, "dwell_time", "2e-06", unit="s", key="Scan.DwellTime")
    set_field(
        fields, provenance, "beam_current", 0.0, unit="nA", key="Microscope Info.Probe Current"
    )
    set_field(fields, provenance, "detector", "HAADF", unit=None, key="BinaryResult.Detector")
    assert fields == {"dwell_time": pytest.approx(2.0), "detector": "HAADF"}
    assert provenance["dwell_time"] == "Scan.DwellTime = 2e-06 s"
    assert "ignored" in provenance["beam_current"]


def test_every_format_is_declared_once_and_its_suffixes_reach_its_reader(tmp_path):
    from cimp import io
    from cimp.io import cimp_hdf5, emd

    names = [f.name for f in io.FORMATS]
    assert len(names) == len(set(names)) and "cimp-hdf5" in names
    assert io.format_of(tmp_path / "a.EMD") is emd.FORMAT
    # an HDF5 file in the CIMP layout is claimed by its sniff; another goes by its suffix
    import h5py

    with h5py.File(tmp_path / "layout.h5", "w") as f:
        f["full_res"] = np.zeros((2, 8, 8), np.uint16)
        f["metadata_labels"] = np.array([b"pixel size (nm)"])
    assert io.format_of(tmp_path / "layout.h5") is cimp_hdf5.FORMAT
    assert io.format_of(tmp_path / "plain.h5").name == "hyperspy"
