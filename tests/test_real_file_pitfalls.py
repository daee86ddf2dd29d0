"""Pitfalls met when cimp was tried on real files: spectra taken as images, placeholders
taken as values, acquisition times never read, channels without their detector's name."""

from __future__ import annotations

import numpy as np
import pytest

from cimp import io
from cimp.io import digitalmicrograph, signals
from cimp.io.digitalmicrograph import acquisition_time


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dm4_3D_data/EELS_SI.dm4", "EELS spectrum image (Energy loss in eV, 2048 channels)"),
        ("dm4_2D_data/test-MonarcCL_spectrum-SI.dm4", "CL spectrum image (Wavelength in nm"),
    ],
)
def test_spectrum_images_are_not_thousands_of_tiny_images(real_files, name, reason):
    with pytest.raises(io.UnreadableFile, match=reason.replace("(", r"\(").replace(")", r"\)")):
        io.read(real_files / name)


def test_a_velox_files_eds_parts_are_listed_as_left_out(real_files):
    found = io.contents(real_files / "emd_files" / "fei_emd_si.emd")
    left_out = {s.what: s.reason for s in found if isinstance(s, io.Skipped)}
    assert left_out == {
        "SpectrumImage 0": "an EDS spectrum image, not an image",
        "SpectrumStream 0": "an EDS spectrum stream (every X-ray event), not an image",
    }
    assert sum(isinstance(r, io.Record) for r in found) == 1  # the HAADF image


def test_dm_acquisition_time_is_read_whatever_the_locale(real_files):
    times = {}
    for locale in ("DE", "FR", "MX", "UK"):
        r = io.read(real_files / "dm3_locale" / f"Fei HAADF-{locale}_location.dm3")[0]
        times[locale] = r.metadata["acquisition_time"]
        assert "Acquisition Time (OS)" in r.provenance["acquisition_time"]
    # one sitting: the same day, four minutes apart, in UTC (the PC showed 20:52 to 20:56)
    assert times == {
        "DE": "2016-08-27T19:54:33.854450+00:00",
        "FR": "2016-08-27T19:55:20.500132+00:00",
        "MX": "2016-08-27T19:55:59.051398+00:00",
        "UK": "2016-08-27T19:52:30.052632+00:00",
    }
    sessions = {io.read(p)[0].session for p in (real_files / "dm3_locale").glob("*.dm3")}
    assert len(sessions) == 1


@pytest.mark.parametrize(
    ("date", "time", "iso"),
    [
        ("27.08.2016", "20:54:33", "2016-08-27T20:54:33"),  # DE
        ("27/08/2016", "08:55:59 p.m.", "2016-08-27T20:55:59"),  # MX
        ("27/08/2016", "20:52:30", "2016-08-27T20:52:30"),  # UK, FR
        ("2019-12-10", "3:32:41 PM", "2019-12-10T15:32:41"),
    ],
)
def test_dm_date_and_time_text_in_the_locales_dm_writes(date, time, iso):
    tags = {"Acquisition Date": date, "Acquisition Time": time}
    assert acquisition_time(tags) == (iso, None)


def test_a_dm_date_that_reads_two_ways_is_refused():
    with pytest.raises(ValueError, match="more than one date"):
        acquisition_time({"Acquisition Date": "12/10/2019", "Acquisition Time": "3:32:41 PM"})


def test_dm_placeholders_are_left_out_with_the_reason(real_files):
    r = io.read(real_files / "dm4_2D_data" / "test-MonarcCL_mono-image.dm4")[0]
    assert "camera_length" not in r.metadata  # 1 mm
    assert "ignored" in r.provenance["camera_length"]
    assert r.metadata["instrument"] == "Zeiss SEM COM"  # not the empty "[]" tag before it
    assert "empty tag" in r.provenance["instrument"] or "[]" not in r.metadata.values()


def _dm_signal(tags: dict, pixel_nm: float = 0.0127, size: int = 64) -> dict:
    axes = [
        {"name": n, "units": "nm", "scale": pixel_nm, "size": size, "navigate": False}
        for n in ("y", "x")
    ]
    data = np.random.default_rng(0).integers(0, 1000, (size, size)).astype(np.uint16)
    tree = {"ImageList": {"TagGroup0": {"ImageTags": tags}}}
    return {"data": data, "axes": axes, "metadata": {}, "original_metadata": tree}


def test_a_magnification_that_does_not_fit_the_field_of_view_is_a_placeholder():
    tags = {
        "Microscope Info": {"Indicated Magnification": 1000.0, "Name": "[]"},
        "QuickSaved": {"Temp-Tags": {"Detector": "HAADF"}},
    }
    (record,) = signals.to_records("x.dm3", [_dm_signal(tags, size=1024)], metadata_of)
    assert "magnification" not in record.metadata
    assert "placeholder" in record.provenance["magnification"]
    assert "instrument" not in record.metadata and "empty tag" in record.provenance["instrument"]
    assert record.metadata["detector"] == "HAADF"
    tags["Microscope Info"]["Indicated Magnification"] = 8e6  # 13 nm shown 10 cm wide
    (record,) = signals.to_records("x.dm3", [_dm_signal(tags, size=1024)], metadata_of)
    assert record.metadata["magnification"] == 8e6


metadata_of = digitalmicrograph.metadata_of


def test_simultaneous_tia_channels_carry_their_detector_names(real_files):
    records = io.read(real_files / "FEI_old" / "16x16_STEM_BF_DF_acquire.emi")
    assert [r.metadata["detector"] for r in records] == ["BF", "DF4"]
    assert [r.extra["signal"] for r in records] == ["signal 0 (BF)", "signal 1 (DF4)"]


def test_a_spectral_signal_type_is_enough_when_the_axes_say_nothing():
    signal = {
        "data": np.zeros((64, 3, 3), np.float32),
        "axes": [{"size": 64}, {"size": 3}, {"size": 3}],
        "metadata": {"Signal": {"signal_type": "EELS"}},
    }
    assert signals.not_an_image(signal) == "EELS spectrum image (64 channels), not an image"
