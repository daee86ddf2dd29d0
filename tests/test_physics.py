"""The physics statistics fused into the CNN read what the simulator's physics put there."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import quiet_scene, settings, tiny_train_config
from safetensors.torch import load_file

from cimp import physics
from cimp.instrument.detector import counts_per_electron
from cimp.model import CIMP, ModelConfig
from cimp.run import Run
from cimp.simulator import acquire
from cimp.train import train

SCALE = 1 / 65535
# positions in the statistics vector
Q01 = physics.QUANTILES.index(0.01)
SLOPE = len(physics.QUANTILES) + 3 + 2 + 2
PEAK = physics.SIZE - 1
FAST_NOISE_CORRELATION = len(physics.QUANTILES) + 3 + 2


def _stats(*images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.stack(images).astype(np.float32) * SCALE)[:, None]
    return physics.statistics(x)


def _image(rng, **changes) -> np.ndarray:
    scene = quiet_scene(None, support_nm=15.0)  # amorphous carbon: nearly flat
    return acquire(scene, settings(size=96, **changes), rng).image


def test_photon_transfer_slope_follows_counts_per_electron(rng):
    # a wedge from vacuum to 40 nm: block means spread, so the line is well defined
    scene = replace(quiet_scene("Au [001]", thickness=40.0), edge=(1.0, 0.0, -1.0), edge_slope=5.0)
    s = settings(size=96, pixel_size=0.05)
    low, high = (acquire(scene, replace(s, detector_gain=g), rng).image for g in (24.0, 34.0))
    s = _stats(low, high)[:, SLOPE]
    # signed log of the slope: the difference is the log of the counts-per-electron ratio
    ratio = counts_per_electron(34.0) / counts_per_electron(24.0)
    assert float(s[1] - s[0]) == pytest.approx(np.log(ratio), abs=0.25)


def test_the_dark_end_follows_the_offset(rng):
    levels = _stats(*(_image(rng, detector_offset=o) for o in (-2.5, -2.0, -1.5)))[:, Q01]
    assert levels[0] < levels[1] < levels[2]


def test_the_spectrum_peak_is_the_lattice_period_in_pixels(rng):
    scene = quiet_scene("Au [001]")  # columns 0.204 nm apart along the scan
    s = settings(pixel_size=0.0204, size=96, beam_current=100.0)
    peak = float(_stats(acquire(scene, s, rng).image)[0, PEAK])
    assert peak == pytest.approx(0.0204 / 0.204, rel=0.1)


def test_short_dwell_correlates_the_noise_along_the_fast_axis(rng):
    fast = settings(size=96, dwell_time=0.2, beam_current=200.0, detector_gain=30.0)
    scene = quiet_scene(None, support_nm=15.0)
    images = [acquire(scene, s, rng).image for s in (fast, replace(fast, dwell_time=20.0))]
    corr = _stats(*images)[:, FAST_NOISE_CORRELATION]
    assert corr[0] > 0.3 > 0.1 > abs(float(corr[1]))


def test_statistics_are_finite_on_blank_and_saturated_crops():
    x = torch.stack([torch.zeros(1, 32, 32), torch.ones(1, 32, 32)])
    out = physics.statistics(x)
    assert out.shape == (2, physics.SIZE) and torch.isfinite(out).all()


def test_the_fused_encoder_embeds():
    fused = CIMP(ModelConfig(fields=["dwell_time"], widths=[8, 16], crop=32, physics=True))
    fused.eval()
    out = fused.encode_image(torch.rand(3, 1, 32, 32) * 0.2)
    assert out.shape == (3, 128) and torch.allclose(out.norm(dim=1), torch.ones(3))


def test_a_run_saved_before_the_fused_encoder_loads_without_it(tiny_dataset, tmp_path):
    """Runs of older cimp have no `physics` key in their config: they load as unfused."""
    path = train(tiny_train_config(tiny_dataset, tmp_path / "run", physics=False, steps=2),
                 show_progress=False)  # fmt: skip
    config = json.loads((path / "config.json").read_text())
    del config["model"]["physics"]
    (path / "config.json").write_text(json.dumps(config))
    model = Run(path).load_model()
    assert model.image.physics is None and not any("physics" in k for k in model.state_dict())
    saved = load_file(path / "model.safetensors")
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
