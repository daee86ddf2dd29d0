"""A drive's worth of bad input, made here: every bad file is skipped with a clear reason,
ingest completes, and every valid file beside them is ingested."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest
import tifffile

import cimp.ingest
from cimp.ingest import ingest
from cimp.store import Store

VALID = {  # file in the real-file cache -> images it holds
    "emd_files/fei_emd_image.emd": 1,
    "dm3_locale/Fei HAADF-UK_location.dm3": 1,
    "FEI_old/16x16_STEM_BF_DF_acquire.emi": 2,
    "JEOL_files/Sample/00_View000/View000_0000000.img": 1,
    "tiff_files/test_tiff_Zeiss_SEM_512pix.tif": 1,
}
SERIES = ("FEI_old/16x16_STEM_BF_DF_acquire_1.ser", "FEI_old/16x16_STEM_BF_DF_acquire_2.ser")


@pytest.fixture
def drive(real_files, tmp_path):
    """(folder, expected reason pattern per bad file name)."""
    good, bad = tmp_path / "drive" / "good", tmp_path / "drive" / "bad"
    good.mkdir(parents=True)
    bad.mkdir()
    for name in (*VALID, *SERIES):
        shutil.copy(real_files / name, good)
    beside_emi = r"read through its \.emi"  # series files are read through their .emi
    expected = {name.rsplit("/", 1)[-1]: beside_emi for name in (*SERIES, "a_1.ser")}
    for name in VALID:
        data = (real_files / name).read_bytes()
        cut = "cut-" + name.rsplit("/", 1)[-1]
        (bad / cut).write_bytes(data[: len(data) // 2])
        expected[cut] = r"not a readable|no image|truncated|too small"
    (bad / "empty.emd").write_bytes(b"")
    expected["empty.emd"] = "empty file"
    rng = np.random.default_rng(0)
    for name in ("noise.dm3", "noise.emd", "noise.emi", "noise.tif", "noise.img"):
        (bad / name).write_bytes(rng.bytes(4096))
        expected[name] = "not a readable"
    tifffile.imwrite(bad / "nan.tif", np.full((16, 16), np.nan, dtype=np.float32))
    expected["nan.tif"] = "no finite value"
    tifffile.imwrite(bad / "one-pixel.tif", np.ones((1, 1), dtype=np.uint16))
    expected["one-pixel.tif"] = "too small"
    shutil.copy(real_files / "dm3_locale/Fei HAADF-DE_location.dm3", bad / "dm3-named.emd")
    expected["dm3-named.emd"] = "not a readable EMD file"
    (bad / "notes.txt").write_text("SrTiO3, 300 kV")
    expected["notes.txt"] = r"no reader for \.txt"
    os.symlink(bad / "loop-b.dm3", bad / "loop-a.dm3")
    os.symlink(bad / "loop-a.dm3", bad / "loop-b.dm3")
    expected["loop-a.dm3"] = expected["loop-b.dm3"] = "cannot open: Too many levels"
    os.symlink(bad, bad / "folder-loop")  # a link to a folder above: never followed
    (bad / "a.emi").write_bytes(
        (real_files / "FEI_old/16x16_STEM_BF_DF_acquire.emi").read_bytes()[:100]
    )
    (bad / "a_1.ser").write_bytes(b"\0" * 64)
    expected["a.emi"] = "not a readable TIA file"
    locked = bad / "locked.dm3"
    shutil.copy(real_files / "dm3_locale/Fei HAADF-MX_location.dm3", locked)
    locked.chmod(0)
    expected["locked.dm3"] = "cannot open: Permission denied"
    return tmp_path / "drive", expected


def test_bad_files_are_skipped_with_reasons_and_valid_ones_ingested(drive, tmp_path, monkeypatch):
    folder, expected = drive
    if os.geteuid() == 0:  # root reads any file: refuse the locked one as the OS would
        real_hash = cimp.ingest.file_hash

        def file_hash(path):
            if path.name == "locked.dm3":
                raise PermissionError(13, "Permission denied")
            return real_hash(path)

        monkeypatch.setattr(cimp.ingest, "file_hash", file_hash)
    report = ingest([folder], tmp_path / "ds", workers=1, show_progress=False)
    reasons = {os.path.basename(path): reason for path, reason in report.skipped}
    assert set(reasons) == set(expected)
    for name, pattern in expected.items():
        assert re.search(pattern, reasons[name]), (name, reasons[name])
    assert report.images_added == sum(VALID.values())
    assert len(Store(tmp_path / "ds").table()) == sum(VALID.values())
