"""Records refuse what is not an image, with a reason an ingest report can show."""

import numpy as np
import pytest

from cimp.io import Record, UnreadableFile, read


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
