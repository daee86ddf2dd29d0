"""Files written by real microscopes (hyperspy 1.7.6 test files): values as the files hold them."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from cimp import io
from cimp.cli import app
from cimp.ingest import ingest
from cimp.store import Store


def only(records):
    assert len(records) == 1
    return records[0]


def test_velox_talos_haadf_image(real_files):
    r = only(io.read(real_files / "emd_files" / "fei_emd_image.emd"))
    m = r.metadata
    assert r.image.shape == (512, 512)
    assert m["dwell_time"] == pytest.approx(20.0)  # Scan.DwellTime = 2e-05 s
    assert m["beam_current"] == pytest.approx(252.3464, rel=1e-6)  # Optics.ScreenCurrent, A
    assert m["pixel_size"] == pytest.approx(5.3024148, rel=1e-6)
    assert m["beam_energy"] == 200.0 and m["magnification"] == 40000.0
    assert m["camera_length"] == pytest.approx(98.0)
    assert m["scan_rotation"] == pytest.approx(math.degrees(1.6580627893946103))
    assert m["stage_alpha"] == pytest.approx(math.degrees(0.00011072368774652029))
    assert (m["detector"], m["instrument"]) == ("HAADF", "Talos 6308")
    assert m["acquisition_time"] == "2017-03-06T09:56:41+00:00"
    assert "Scan.DwellTime" in r.provenance["dwell_time"]
    assert "convergence_angle" not in m  # this Talos file does not record it


def test_velox_titan_reads_the_settings_of_the_images_own_detector(real_files):
    records = io.read(real_files / "emd_files" / "fei_example_dpc_titles.emd")
    df4 = next(r for r in records if r.extra["signal"].endswith("(DF4-A)")).metadata
    # the file lists BF first (gain 47.95); the image was made by DF4 (gain 0, 0.60-3.36 mrad)
    assert df4["detector"] == "DF4"
    assert (df4["detector_gain"], df4["detector_offset"]) == (0.0, 0.0)
    assert df4["inner_collection_angle"] == pytest.approx(0.60253744, rel=1e-6)
    assert df4["outer_collection_angle"] == pytest.approx(3.36298742, rel=1e-6)
    assert df4["convergence_angle"] == pytest.approx(1.04612821, rel=1e-6)
    assert df4["dwell_time"] == pytest.approx(10.0)
    assert df4["stage_alpha"] == pytest.approx(math.degrees(0.081560771835436793))
    assert df4["stage_beta"] == pytest.approx(math.degrees(0.088313660150913062))
    assert df4["instrument"] == "Titan 3371"
    skipped = [s for s in io.contents(real_files / "emd_files" / "fei_example_dpc_titles.emd")
               if isinstance(s, io.Skipped)]  # fmt: skip
    assert [s.what for s in skipped] == ["signal 1 (DPC)"]  # the complex DPC vector field


def test_velox_spectrum_image_file_gives_its_haadf_with_that_detectors_gain(real_files):
    path = real_files / "emd_files" / "fei_SI_EDS-HAADF-4detectors_2frames.emd"
    m = only(io.read(path)).metadata
    assert m["detector"] == "HAADF"
    assert m["detector_gain"] == pytest.approx(24.426257612447603)
    assert m["detector_offset"] == pytest.approx(-1.7041571044921877)
    assert m["inner_collection_angle"] == pytest.approx(31.567778647, rel=1e-6)


def test_velox_frame_stack_gives_one_record_per_frame_in_one_session(real_files):
    records = io.read(real_files / "emd_files" / "fei_example_tem_stack.emd")
    assert [r.frame for r in records] == [0, 1]
    assert records[0].session == records[1].session
    assert records[0].metadata["detector"] == "BM-Ceta"


@pytest.mark.parametrize("locale", ["DE", "FR", "MX", "UK"])
def test_digiscan_dm3_reads_the_same_values_whatever_the_locale(real_files, locale):
    r = only(io.read(real_files / "dm3_locale" / f"Fei HAADF-{locale}_location.dm3"))
    m = r.metadata
    assert m["dwell_time"] == pytest.approx(1.4)  # DigiScan Sample Time, us
    assert m["beam_energy"] == 200.0 and m["magnification"] == 1.3e6
    assert m["camera_length"] == 135.0
    assert m["pixel_size"] == pytest.approx(5.506073, rel=1e-6)
    assert "beam_current" not in m and "ignored" in r.provenance["beam_current"]  # 0 nA


def test_tia_stem_series_reads_through_the_emi(real_files):
    folder = real_files / "FEI_old"
    records = io.read(folder / "16x16_STEM_BF_DF_acquire.emi")
    assert len(records) == 2  # BF and DF
    m = records[0].metadata
    assert m["dwell_time"] == pytest.approx(48.0)  # DwellTimePath = 0.000048 s
    assert (m["camera_length"], m["magnification"], m["beam_energy"]) == (40.0, 1e4, 200.0)
    assert m["pixel_size"] == pytest.approx(21.510044, rel=1e-6)
    assert m["instrument"].startswith("Microscope Tecnai 200 kV")
    with pytest.raises(io.UnreadableFile, match=r"read through its \.emi"):
        io.read(folder / "16x16_STEM_BF_DF_acquire_1.ser")


def test_tia_tem_camera_exposure_is_not_taken_as_a_dwell_time(real_files):
    r = only(io.read(real_files / "FEI_old" / "64x64_TEM_images_acquire.emi"))
    assert "dwell_time" not in r.metadata
    assert "camera exposure" in r.provenance["dwell_time"]


def test_jeol_image_and_element_maps(real_files):
    view = real_files / "JEOL_files" / "Sample" / "00_View000"
    m = only(io.read(view / "View000_0000000.img")).metadata
    assert (m["beam_energy"], m["magnification"]) == (200.0, 40000.0)
    assert m["instrument"] == "JEM-2100F(UHR)"
    with pytest.raises(io.UnreadableFile, match=r"EDS element map \(C K\)"):
        io.read(view / "View000_0000001.map")


def test_zeiss_tiff(real_files):
    m = only(io.read(real_files / "tiff_files" / "test_tiff_Zeiss_SEM_512pix.tif")).metadata
    assert (m["beam_energy"], m["magnification"], m["detector"]) == (5.0, 50000.0, "InLens")
    assert m["pixel_size"] == pytest.approx(11.649976, rel=1e-6)


def test_inspect_prints_fields_sources_and_missing_ones(real_files):
    path = real_files / "emd_files" / "fei_emd_image.emd"
    result = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)
    (image,) = entry["images"]
    assert image["fields"]["dwell_time"] == {
        "value": pytest.approx(20.0),
        "unit": "us",
        "from": "Scan.DwellTime = 2.0000000000000002e-005 s",
    }
    assert image["missing_core"] == [
        "convergence_angle", "detector_gain", "detector_offset", "inner_collection_angle",
    ]  # fmt: skip
    text = CliRunner().invoke(app, ["inspect", str(path)], terminal_width=200).output
    assert "Scan.DwellTime" in text and "missing core fields: convergence_angle" in text


def test_ingest_of_real_folders_reports_every_file(real_files, tmp_path):
    folders = [real_files / name for name in ("emd_files", "FEI_old", "dm3_locale", "JEOL_files")]
    report = ingest(folders, tmp_path / "ds", workers=2, show_progress=False)
    files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
    assert report.files_read + len(report.skipped) == len(files)
    assert all(reason for _, reason in report.skipped)
    table = Store(tmp_path / "ds").table()
    assert len(table) == report.images_added > 50
    velox = table[table["source"].str.endswith("fei_emd_image.emd")].iloc[0]
    assert velox["dwell_time"] == pytest.approx(20.0)
    assert json.loads(velox["provenance"])["dwell_time"].startswith("Scan.DwellTime")
    again = ingest(folders, tmp_path / "ds", workers=1, show_progress=False)
    assert (again.images_added, again.files_known) == (0, report.files_read)


@pytest.mark.slow
def test_ingest_of_the_whole_hyperspy_test_folder_completes(real_files, tmp_path):
    report = ingest([real_files], tmp_path / "ds", workers=2, show_progress=False)
    files = [p for p in real_files.rglob("*") if p.is_file()]
    assert report.files_read + len(report.skipped) == len(files)
    assert 50 < report.images_added < 200  # spectrum images are not counted as images
    assert all(reason for _, reason in report.skipped)
    assert not any("Error" in reason for _, reason in report.skipped)  # no reader crashed
