"""cimp calibrate: detector constants measured from images, checked against the simulator's
known detector, and run on the real Velox files."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import quiet_scene, settings
from typer.testing import CliRunner

from cimp.calibrate import calibrate, frame_pair_transfer
from cimp.cli import app
from cimp.instrument.detector import DETECTOR, Detector, black_level, counts_per_electron
from cimp.instrument.profile import Profile
from cimp.io import Record
from cimp.simulator import acquire
from cimp.store import Store

EXCESS = 1 + 1 / DETECTOR.pulse_shape


def _frames(gain: float, offset: float, crystal: str | None = "Au [001]", n: int = 2):
    """n frames of a wedge (vacuum to 40 nm across the field): one scan, new noise each."""
    s = settings(detector_gain=gain, detector_offset=offset, size=128, pixel_size=0.05)
    scene = replace(quiet_scene(crystal, thickness=40.0), edge=(1.0, 0.0, -2.0), edge_slope=5.0)
    return s, [acquire(scene, s, np.random.default_rng(k)).image for k in range(n)]


def test_two_frames_of_one_scene_give_the_detectors_counts_per_electron():
    _, (a, b) = _frames(gain=26.0, offset=-2.0)
    measured = frame_pair_transfer(a, b)
    assert measured["slope"] == pytest.approx(counts_per_electron(26.0) * EXCESS, rel=0.1)
    assert measured["r2"] > 0.9


def _dataset(tmp_path):
    store = Store(tmp_path / "ds", create=True)
    rows = []
    for gain, offset in ((18.0, -2.5), (24.0, -2.0), (30.0, -1.5)):  # none saturates
        s, frames = _frames(gain, offset)
        _, (vacuum,) = _frames(gain, offset, crystal=None, n=1)
        for k, image in enumerate([*frames, vacuum]):
            meta = {
                "detector_gain": gain,
                "detector_offset": offset,
                "dwell_time": s.dwell_time,
                "instrument": "sim",
                "detector": "HAADF",
                "convergence_angle": 25.0,
            }
            extra = {"frame_of_stack": str(k)} if k < 2 else {}
            source = f"series-{gain:g}.emd" if k < 2 else f"vacuum-{gain:g}.emd"
            record = Record(image, meta, {}, source, frame=k, extra=extra)
            rows.append(store.row(record, store.put_image(image), f"{gain}-{k}"))
    store.append(rows, [])
    return tmp_path / "ds"


def test_calibrate_recovers_the_simulated_detector_curves(tmp_path):
    profile = calibrate(_dataset(tmp_path))
    (entry,) = profile["calibration"].values()
    black = entry["black_level"]["fit"]
    # the darkest block of vacuum: the black level within a fraction of the noise
    assert black["slope"] == pytest.approx(DETECTOR.counts_per_offset, rel=0.02)
    assert black["intercept"] - 2 * black["slope"] == pytest.approx(black_level(-2.0), abs=50)
    transfer = entry["photon_transfer"]["fit"]
    assert transfer["slope"] == pytest.approx(1 / DETECTOR.gain_per_decade, rel=0.05)
    assert 10 ** (transfer["intercept"] + 24 * transfer["slope"]) == pytest.approx(
        counts_per_electron(24.0) * EXCESS, rel=0.1
    )
    assert profile["convergence_apertures_mrad"] == [25.0]
    # the profile simulate reads carries the measured constants
    measured = Detector.from_dict(profile["detector"])
    assert counts_per_electron(24.0, measured) == pytest.approx(counts_per_electron(24.0), rel=0.1)
    assert black_level(-2.0, measured) == pytest.approx(black_level(-2.0), abs=50)
    assert set(profile["detector"]["measured"]) == {"black level", "counts per electron"}


def test_calibrate_command_on_the_real_velox_files(real_files, tmp_path):
    from cimp.ingest import ingest

    ingest([real_files / "emd_files"], tmp_path / "ds", show_progress=False)
    out = tmp_path / "lab.json"
    result = CliRunner().invoke(app, ["calibrate", str(tmp_path / "ds"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    profile = json.loads(out.read_text())
    talos = profile["calibration"]["Talos 6308 / HAADF"]
    points = [(p["offset"], p["dark_end"]) for p in talos["black_level"]["points"] if p["offset"]]
    assert points == [(pytest.approx(-1.7041571), pytest.approx(11776, abs=50))]
    assert "a line needs two" in talos["black_level"]["why"]
    assert profile["beam_energies_kv"] == [200.0, 300.0]
    assert out.with_suffix(".png").exists()
    assert Profile.load(out).beam_energies_kv == (200.0, 300.0)  # simulate --profile reads it
