"""Dose transfer: tiling, conditioning, the physics of the target dose, files, honesty."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest
import tifffile
import torch
from conftest import quiet_scene, settings, text_of
from scipy.ndimage import binary_dilation
from typer.testing import CliRunner

from cimp import workers
from cimp.cli import app
from cimp.denoise.apply import Denoiser
from cimp.denoise.condition import target_settings
from cimp.denoise.consistency import (
    OUT_OF_DOMAIN,
    WINDOWS,
    Seen,
    blend,
    border_excess,
    outside,
    project,
    readable,
    window_noise,
    window_taps,
    windowed,
)
from cimp.denoise.electrons import calibrate, stabilise, unstabilise
from cimp.denoise.loss import ssim, transfer_loss
from cimp.denoise.pairs import dose_pairs
from cimp.denoise.render import Noise, finish, level
from cimp.denoise.spectrum import invented_reflections, lattice_contrast, lattice_peaks
from cimp.denoise.structure import PER_BIN, StructureGain
from cimp.denoise.tiles import tiled
from cimp.denoise.train import (
    MIN_FIT,
    DenoiserConfig,
    fit_structure_gain,
    train_denoiser,
    twin_examples,
)
from cimp.denoise.twin import twin_case, twin_cases
from cimp.denoise.unet import FiLMUNet, UNetConfig, reach
from cimp.denoise.wiener import unet_inputs
from cimp.device import bf16_native
from cimp.errors import CimpError
from cimp.ingest import ingest
from cimp.instrument.detector import detect
from cimp.io import read
from cimp.simulator import acquire
from cimp.simulator.files import write_run
from cimp.simulator.render import scan_grid
from cimp.simulator.scene import Grain, crystal_index
from cimp.store import Store

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


# the detector the loss, blend and hold tests read
GAIN_20 = {"detector_gain": 20.0, "detector_offset": -1.0, "dwell_time": 2.0}


@pytest.fixture(scope="module")
def drun(trained, tmp_path_factory):
    """The session's tiny CIMP run and a denoiser on it, trained on 24 dose pairs and 24 twin
    cases of 64 px (about 3 s)."""
    root = tmp_path_factory.mktemp("denoise")
    run = shutil.copytree(trained[0], root / "run")  # its own copy: nothing shared is written
    write_run(root / "raw", 24, size=64, seed=3, sampling="pairs", show_progress=False)
    splits = {"train": 0.75, "val": 0.25, "test": 0.0}
    ingest([root / "raw"], root / "pairs", splits, show_progress=False)
    config = DenoiserConfig(
        str(run),
        str(root / "drun"),
        dataset=str(root / "pairs"),
        twin=24,
        size=64,
        crop=32,
        steps=60,
        widths=[8, 16, 32],
        seed=2,
    )
    return train_denoiser(config, show_progress=False), root


def random_unet() -> FiLMUNet:
    """An untrained U-Net whose every layer does something (FiLM and output not zero)."""
    torch.manual_seed(0)
    net = FiLMUNet(UNetConfig(cond_dim=5, widths=[8, 16, 32]))
    for module in net.modules():
        if isinstance(module, torch.nn.Linear | torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.3)
    return net.eval()


def test_a_saved_unet_loads_as_saved_and_one_this_cimp_no_longer_builds_is_named():
    saved = UNetConfig(cond_dim=5, widths=[8, 16, 32]).to_dict()
    assert saved["activation"] == "leaky_relu" and saved["head"] == "residual"  # recorded
    assert UNetConfig.saved(saved) == UNetConfig(cond_dim=5, widths=[8, 16, 32])
    for retired, named in [
        ({"head": "gate"}, "head 'gate'"),
        ({"skips": "add", "spectral": True}, "skips 'add', spectral True"),
        ({"guide_smoothing": 3}, "guide_smoothing 3"),
        ({"inputs": 2}, "inputs 2"),
        ({"activation": "silu"}, "activation 'silu'"),
    ]:
        with pytest.raises(CimpError, match=re.escape(f"a U-Net of {named}, which this cimp")):
            UNetConfig.saved({**saved, **retired})
    older = {k: v for k, v in saved.items() if k not in ("activation", "inputs")}
    with pytest.raises(CimpError, match="activation 'silu', inputs 1"):  # recorded neither
        UNetConfig.saved(older)


def test_reach_says_how_far_a_net_looks():
    fresh = FiLMUNet(UNetConfig(cond_dim=5, widths=[8, 16, 32]))  # the identity: 1 px
    assert reach(fresh, torch.zeros(1, 5), size=64) == 1
    net = random_unet()
    assert 20 < reach(net, torch.zeros(1, 5), size=128) < 64  # three levels: tens of px
    assert all(p.grad is None for p in net.parameters())  # the net is left as it was


def test_tiles_give_the_image_one_pass_gives():
    net, cond = random_unet(), torch.randn(1, 5)
    image = np.random.default_rng(0).normal(size=(4, 150, 130)).astype(np.float32)

    def run(x):
        with torch.no_grad():
            return net(x, cond.expand(len(x), -1))

    whole = tiled(run, image, tile=256, multiple=8)
    tiles = tiled(run, image, tile=32, halo=48, multiple=8)
    assert tiles.shape == image.shape[1:]
    assert np.abs(whole - image[0]).mean() > 0.1  # the net changes the image...
    assert np.abs(tiles - whole).max() < 1e-4 * whole.std()  # ...the same way in 25 tiles
    # a net's several outputs come back as channels, each as its own tiling gives it
    both = tiled(lambda x: torch.cat([run(x), -run(x)], dim=1), image, tile=32, multiple=8)
    assert both.shape == (2, *image.shape[1:])
    assert np.array_equal(both[0], tiles) and np.array_equal(both[1], -tiles)


def test_conditioning_changes_the_output():
    net, z = random_unet(), torch.randn(1, 4, 32, 32)
    with torch.no_grad():
        a, b = net(z, torch.zeros(1, 5)), net(z, torch.ones(1, 5))
        again = net(z, torch.zeros(1, 5))
    assert torch.equal(a, again)
    assert (a - b).abs().mean() > 0.1 * a.std()


@pytest.mark.parametrize(
    ("changes", "dwell", "current", "ratio"),
    [
        ({"dwell_time": "x4"}, 8.0, 10.0, 4.0),
        ({"dwell_time": "20us", "beam_current": "x2"}, 20.0, 20.0, 20.0),
        ({"beam_current": "0.05nA"}, 2.0, 50.0, 5.0),
    ],
)
def test_targets_read_factors_and_values_with_units(changes, dwell, current, ratio):
    target, k = target_settings(
        {"dwell_time": 2.0, "beam_current": 10.0, "pixel_size": 0.1}, changes
    )
    assert target["dwell_time"] == pytest.approx(dwell)
    assert target["beam_current"] == pytest.approx(current)
    assert target["pixel_size"] == 0.1 and k == pytest.approx(ratio)


@pytest.mark.parametrize(
    ("source", "changes", "message"),
    [
        ({"dwell_time": 2.0}, {"dwell_time": "x0.5"}, "only higher doses"),
        ({}, {"dwell_time": "20us"}, "does not record"),
        ({"dwell_time": 2.0}, {"pixel_size": "x2"}, "dwell_time or beam_current"),
        ({"dwell_time": 2.0}, {"dwell_time": "fast"}, "factor"),
    ],
)
def test_impossible_targets_are_refused_with_a_reason(source, changes, message):
    with pytest.raises(CimpError, match=message):
        target_settings(source, changes)


def test_pairs_are_found_by_session_and_dose(drun):
    _, root = drun
    table = Store(root / "pairs").table()
    pairs = dose_pairs(table)
    complete = (table.groupby("session").size() == 2).sum()  # blank (saturated) images drop
    assert len(pairs) == complete >= 20
    dose = table["dwell_time"] * table["beam_current"]
    assert (dose[pairs["high"]].to_numpy() >= 4 * dose[pairs["low"]].to_numpy() * 0.999).all()
    assert (table["session"][pairs["low"]].to_numpy() == table["session"][pairs["high"]]).all()


def test_unknown_target_pixels_are_left_out_of_the_loss():
    net = random_unet()
    electrons = 5 * torch.rand(2, 4, 32, 32)  # and its three guides
    target = electrons[:, :1].clone()
    target[0, 0, :8] = float("nan")  # clipped at the top of the integer range
    noise = Noise.of([calibrate(GAIN_20)] * 2)
    levels = level(noise, electrons[:, :1])
    top = torch.full((2,), 9.0)
    loss = transfer_loss(
        net, electrons, target, torch.randn(2, 5), levels=levels, noise=noise, top=top
    )
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_the_loss_pulls_an_estimate_below_the_range_back():
    """Below the stabilised range every estimate reads as no electrons; without a pull back,
    a net that strayed there had no gradient at all (a training died so at step 4,900)."""
    net = random_unet()
    electrons = 5 * torch.rand(2, 4, 32, 32)
    noise = Noise.of([calibrate(GAIN_20)] * 2)
    levels, top = level(noise, electrons[:, :1]), torch.full((2,), 9.0)
    with torch.no_grad():
        net.final.bias.fill_(-1e3)
    loss = transfer_loss(
        net, electrons, electrons[:, :1], torch.randn(2, 5), levels=levels, noise=noise, top=top
    )
    loss.backward()
    assert float(net.final.bias.grad) < -0.1  # raising the output lowers the loss


def test_the_loss_sees_saturation_as_the_detector_does():
    """Above the detector's top every estimate reads the top: only one below it is wrong."""

    def identity(z, cond):
        return z[:, :1]

    noise = Noise.of([calibrate(GAIN_20)])
    target = torch.linspace(1.0, 20.0, 32 * 32).view(1, 1, 32, 32)
    top = torch.tensor([10.0])

    def loss(estimate):
        e = torch.cat([estimate, estimate], dim=1)
        return float(
            transfer_loss(
                identity, e, target, None, levels=level(noise, estimate), noise=noise, top=top
            )
        )

    above = torch.where(target > top, target + 5.0, target)
    below = torch.where(target > top, top - 1.0, target)
    assert loss(target) == pytest.approx(-70.0, abs=0.01)  # 60 dB (the cap) and SSIM 1
    assert loss(above) == pytest.approx(loss(target), abs=1e-3)  # as good as exact
    assert loss(below) > -35


def test_the_loss_ssim_is_the_benchmarks():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    y = rng.normal(size=(40, 48)).cumsum(axis=1)
    x = y + rng.normal(scale=2.0, size=y.shape)
    span = float(y.max() - y.min())
    ours = ssim(*(torch.from_numpy(t)[None, None] for t in (x, y)), torch.tensor([span]))
    assert float(ours[0]) == pytest.approx(structural_similarity(y, x, data_range=span), abs=1e-6)


def test_training_needs_something_to_learn_from(drun, tiny_dataset, tmp_path):
    run = drun[1] / "run"
    with pytest.raises(CimpError, match="nothing to train on"):
        DenoiserConfig(str(run), str(tmp_path / "d"), twin=0)
    config = DenoiserConfig(str(run), str(tmp_path / "d"), dataset=str(tiny_dataset), twin=0)
    with pytest.raises(CimpError, match="no dose pairs"):
        train_denoiser(config, show_progress=False)


def test_the_twin_draws_the_archive_share_asked_for(tmp_path, monkeypatch):
    import cimp.denoise.train as training

    drawn = []
    monkeypatch.setattr(
        training, "twin_cases", lambda s, n, z, kind, **k: drawn.append((kind, n)) or []
    )
    config = DenoiserConfig(str(tmp_path / "run"), str(tmp_path / "d"), archive_share=0.7)
    training._twin(0, 10, config, False)
    assert drawn == [("archive", 7), ("uniform", 3)]
    drawn.clear()
    training._twin(0, 5, replace(config, archive_share=0.5), False)
    assert drawn == [("archive", 3), ("uniform", 2)]  # the odd case to the archive, as before
    drawn.clear()
    training._twin(0, 10, replace(config, archive_share=0.0), False)
    assert drawn == [("uniform", 10)]
    with pytest.raises(CimpError, match=r"archive_share 1\.5"):
        DenoiserConfig(str(tmp_path / "run"), str(tmp_path / "d"), archive_share=1.5)


def test_a_step_without_a_finite_loss_is_skipped_and_many_stop_the_training(
    drun, tmp_path, monkeypatch
):
    import cimp.denoise.train as training

    real, calls = training.transfer_loss, []

    def sometimes_nan(*args):
        calls.append(1)
        loss = real(*args)
        return loss * float("nan") if len(calls) in (2, 3) else loss

    monkeypatch.setattr(training, "transfer_loss", sometimes_nan)
    small = {"twin": 4, "size": 64, "crop": 32, "widths": [8, 16], "val_every": 100}
    config = DenoiserConfig(str(drun[1] / "run"), str(tmp_path / "d"), steps=5, **small)
    out = train_denoiser(config, show_progress=False)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if e.get("skipped")] == [2, 3]
    unet = Denoiser(out, "cpu").unet
    assert all(torch.isfinite(p).all() for p in unet.parameters())
    monkeypatch.setattr(training, "transfer_loss", lambda *a: real(*a) * float("nan"))
    monkeypatch.setattr(training, "MAX_FAILED", 3)
    config = DenoiserConfig(str(drun[1] / "run"), str(tmp_path / "e"), steps=5, **small)
    with pytest.raises(CimpError, match=r"diverged.*up to step 3"):
        train_denoiser(config, show_progress=False)
    assert not (tmp_path / "e" / "unet.safetensors").exists()


def test_a_collapsed_training_saves_its_best_validation_weights(drun, tmp_path, monkeypatch):
    import cimp.denoise.train as training

    losses, seen = iter([-20.0, -25.0, -5.0]), []

    def validate(unet, val, device):
        seen.append({k: v.clone() for k, v in unet.state_dict().items()})
        return next(losses)

    monkeypatch.setattr(training, "validate", validate)
    small = {"twin": 4, "size": 64, "crop": 32, "widths": [8, 16], "val_every": 2}
    config = DenoiserConfig(str(drun[1] / "run"), str(tmp_path / "d"), steps=5, **small)
    out = train_denoiser(config, show_progress=False)
    saved = json.loads((out / "config.json").read_text())
    assert (saved["steps_done"], saved["kept_step"]) == (5, 4)
    unet = Denoiser(out, "cpu").unet
    assert all(torch.equal(v, seen[1][k]) for k, v in unet.state_dict().items())
    assert not all(torch.equal(v, seen[2][k]) for k, v in unet.state_dict().items())


def test_a_collapsing_training_goes_on_from_its_best_weights(drun, tmp_path, monkeypatch):
    """A net that died (validation 3 dB or more above its best) learns nothing more: the
    training goes back to its best weights, with fresh optimiser moments, and on."""
    import cimp.denoise.train as training

    losses, seen, rewound = iter([-20.0, -25.0, -5.0, -26.0, -27.0]), [], []

    def validate(unet, val, device):
        seen.append({k: v.clone() for k, v in unet.state_dict().items()})
        return next(losses)

    def restore(best, unet):
        step = restore_best(best, unet)
        rewound.append({k: v.clone() for k, v in unet.state_dict().items()})
        return step

    restore_best = training.Best.restore
    monkeypatch.setattr(training, "validate", validate)
    monkeypatch.setattr(training.Best, "restore", restore)
    small = {"twin": 4, "size": 64, "crop": 32, "widths": [8, 16], "val_every": 2}
    config = DenoiserConfig(str(drun[1] / "run"), str(tmp_path / "d"), steps=9, **small)
    out = train_denoiser(config, show_progress=False)
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [(x["step"], x["rewound_to"]) for x in log if "rewound_to" in x] == [(6, 4)]
    assert len(rewound) == 1 and all(torch.equal(v, seen[1][k]) for k, v in rewound[0].items())
    saved = json.loads((out / "config.json").read_text())
    assert (saved["steps_done"], saved["kept_step"]) == (9, 9)  # it recovered: the last kept
    assert not all(torch.equal(v, seen[1][k]) for k, v in seen[3].items())  # and learnt on


def _threads(_) -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info()]


def test_twin_cases_in_workers_are_the_same_and_each_worker_keeps_to_one_thread():
    """Two workers of two BLAS/OpenMP threads each on two cores made the twin 3x slower."""
    with workers.pool(2) as pool:
        assert {n for threads in pool.map(_threads, range(2)) for n in threads} == {1}
    here, there = (twin_cases(3, 16, 64, "uniform", workers=w) for w in (1, 2))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(here, there, strict=True))


def test_a_drun_this_cimp_no_longer_builds_is_refused_with_what_it_records(drun, tmp_path):
    older = shutil.copytree(drun[0], tmp_path / "older")
    config = json.loads((older / "config.json").read_text())
    config["unet"]["head"] = "mix"
    (older / "config.json").write_text(json.dumps(config))
    with pytest.raises(CimpError, match=f"{older} holds a U-Net of head 'mix', which this"):
        Denoiser(older, "cpu")
    result = runner.invoke(app, ["denoise", str(older), "x.tif", "--dwell-time", "x4"])
    assert result.exit_code == 2 and "train it again with `cimp train-denoiser`" in text_of(result)


def test_the_output_takes_a_share_of_the_local_guide_only_when_asked(drun):
    """The share SURE gives the local guide (`sure`) is reported, and lowers the error
    against the twin's truth; without the blend the share is 0."""
    denoiser = Denoiser(drun[0], "cpu")
    case = twin_case(3, 0, 64, "uniform", dose=300.0)
    guided = denoiser.transfer(case.image, case.source, {"dwell_time": "x4"})
    alone = denoiser.transfer(case.image, case.source, {"dwell_time": "x4"}, leave_out=("guided",))
    assert 0.0 < guided.guide <= 1.0 and alone.guide == 0.0
    with pytest.raises(CimpError, match="no stage to leave out named blend"):
        denoiser.transfer(case.image, case.source, {"dwell_time": "x4"}, leave_out=("blend",))
    error = [np.mean(np.square(x.image - case.truth)) for x in (guided, alone)]
    assert error[0] < 0.95 * error[1]  # 0.87


def test_sures_probe_in_the_images_batch_gives_the_share_its_own_passes_give(drun, monkeypatch):
    """SURE's perturbed image runs through the U-Net in one batch with the image (`sure.probe`):
    the share and the output are those of SURE's own passes."""
    from cimp.denoise import stages

    denoiser = Denoiser(drun[0], "cpu")
    case = twin_case(3, 0, 64, "uniform", dose=300.0)
    batched = denoiser.transfer(case.image, case.source, {"dwell_time": "x4"})
    monkeypatch.setattr(stages, "probe", lambda e, cal: None)  # `sure.traces` runs its own
    alone = denoiser.transfer(case.image, case.source, {"dwell_time": "x4"})
    assert batched.guide > 0.05 and abs(batched.guide - alone.guide) < 1e-3
    np.testing.assert_allclose(batched.image, alone.image, rtol=1e-3, atol=0.5)


def test_the_scans_displaced_lines_are_undone_for_the_guides_and_named(drun, rng):
    """A lattice whose lines the scan moved (`scanlines`): the transfer says by how much and
    that the output keeps them; asked not to, it reads the guides as the lines lie."""
    denoiser = Denoiser(drun[0], "cpu")
    s = settings(pixel_size=0.01, beam_current=5.0, dwell_time=4.0)
    scene = replace(quiet_scene("Au [001]"), line_jitter_nm=0.01, mains_nm=0.02)
    image = acquire(scene, s, rng).image
    read = denoiser.transfer(image, s.metadata(), {"beam_current": "x4"})
    as_is = denoiser.transfer(
        image, s.metadata(), {"beam_current": "x4"}, leave_out=("straighten",)
    )
    grid = scan_grid(s, scene, np.random.default_rng(scene.seed))  # where the lines really sat
    dx, dy = grid.ox / s.pixel_size, grid.Y / s.pixel_size - (np.arange(s.size) - s.size / 2)
    moved = np.sqrt(np.mean(np.square(dx - dx.mean()) + np.square(dy - dy.mean())))  # 1.9 px
    assert 0.5 * moved < read.lines < 2.0 * moved and as_is.lines == 0.0
    assert sum("scan's lines" in n for n in read.notes) == 1
    assert not any("scan's lines" in n for n in as_is.notes)


def test_a_structure_gain_is_fitted_on_enough_twin_cases_and_a_transfer_applies_it(drun):
    """A training on fewer than MIN_FIT twin cases fits no gain (one bin would give every
    image one gain); on MIN_FIT cases the gain lies in [0, 1] and never falls with the
    signal-to-noise ratio. At a gain of 0 the U-Net gives only its mean level to the
    whole-image guide's structure (an estimate still far closer to the truth than the
    input), and the user is told."""
    assert json.loads((drun[0] / "config.json").read_text())["structure_gain"] is None
    denoiser = Denoiser(drun[0], "cpu")
    cases = twin_cases(5, MIN_FIT, 64, "uniform", low_dose_share=1.0)
    fitting = twin_examples(denoiser.encoder, denoiser.normalizer, cases)
    gain = fit_structure_gain(denoiser.unet, fitting, "cpu")
    assert 2 <= len(gain.gains) <= MIN_FIT // PER_BIN  # cases saturated all over: left out
    assert all(0.0 <= g <= 1.0 for g in gain.gains) and list(gain.gains) == sorted(gain.gains)
    case = twin_case(3, 0, 64, "uniform", dose=300.0)
    denoiser.gain = StructureGain((0.0,), (0.0,))
    flat = denoiser.transfer(case.image, case.source, {"dwell_time": "x4"}, leave_out=("hold",))
    e = flat.calibration.electrons(case.image.astype(np.float32))
    whole = unet_inputs(e, flat.calibration)[1]
    guide = finish(torch.from_numpy(whole)[None, None], Noise.of([flat.calibration]))
    assert flat.kept == 0.0 and np.corrcoef(flat.image.ravel(), guide.ravel())[0, 1] > 0.999
    assert any("0 % of the detail" in note for note in flat.notes)
    held = denoiser.transfer(case.image, case.source, {"dwell_time": "x4"})
    truth = case.truth.ravel()
    assert np.corrcoef(case.image.ravel(), truth)[0, 1] < 0.5  # 0.42
    assert np.corrcoef(held.image.ravel(), truth)[0, 1] > 0.65  # 0.75
    denoiser.gain = None
    whole = denoiser.transfer(case.image, case.source, {"dwell_time": "x4"})
    assert whole.kept == 1.0 and not any("detail" in note for note in whole.notes)


def test_a_transfer_gives_the_same_output_every_time(drun):
    denoiser = Denoiser(drun[0], "cpu")
    case = twin_case(3, 0, 64, "uniform", dose=300.0)
    longer = denoiser.transfer(case.image, case.source, {"dwell_time": "x4"}).image
    again = denoiser.transfer(case.image, case.source, {"dwell_time": "x4"}).image
    assert np.array_equal(longer, again)


def test_the_dose_physics_matches_the_simulator(rng):
    scene, low = quiet_scene("Au [001]", support_nm=2.0), settings(beam_current=5.0)
    high = replace(low, beam_current=20.0)
    a, b = acquire(scene, low, rng, True), acquire(scene, high, rng, True)
    cal = calibrate(low.metadata())
    predicted = cal.counts(4 * cal.electrons(a.expected))
    # the level scales (to 1 %: a wider probe scatters a little differently); the detail
    # does not (a larger current is a larger effective source)
    assert predicted.mean() == pytest.approx(b.expected.mean(), rel=0.01)
    assert not np.allclose(predicted, b.expected, rtol=1e-3)


@pytest.mark.parametrize(("electrons", "dwell", "gain"), [(0.3, 0.5, 30), (3, 1, 20), (30, 5, 10)])
def test_the_noise_model_is_the_detectors(electrons, dwell, gain, rng):
    cal = calibrate({"detector_gain": gain, "detector_offset": -1.0, "dwell_time": dwell})
    counts = detect(np.full((256, 256), electrons), dwell, gain, -1.0, rng=rng).astype(float)
    e = cal.electrons(counts)
    assert e.mean() == pytest.approx(electrons, abs=0.05 * electrons + 0.05)
    assert e.var() == pytest.approx(cal.slope * electrons + cal.floor, rel=0.05)
    blocks = e.reshape(64, 4, 64, 4).mean(axis=(1, 3))
    assert blocks.var() == pytest.approx(cal.binned_variance(electrons), rel=0.1)
    z = stabilise(torch.from_numpy(e), cal.slope, cal.floor).numpy()
    assert z.std() == pytest.approx(1.0, abs=0.03)


def read_out(truth: np.ndarray, rng):
    """`truth` (electrons a pixel) read by a detector of GAIN_20: its calibration, the counts,
    their electrons (1, 1, H, W) and each window's noise (floor, slope) as `project` and
    `blend` read it."""
    cal = calibrate(GAIN_20)
    settings = (GAIN_20[k] for k in ("dwell_time", "detector_gain", "detector_offset"))
    counts = detect(truth, *settings, rng=rng).astype(np.float32)
    e = torch.from_numpy(cal.electrons(counts))[None, None]
    slope, floor = window_noise(cal)
    return cal, counts, e, (torch.tensor([floor]), torch.tensor([slope]))


def test_what_the_net_invents_is_held_to_the_input(rng):
    cal, counts, e, (floor, slope) = read_out(np.full((32, 32), 2.0), rng)
    invented = torch.full_like(e, 2.0)
    invented[..., 8:16, 8:16] = 40.0  # a particle the input does not show
    held = project(invented, e, floor, slope)
    seen = windowed(e)
    bound = 3.0 * torch.sqrt(slope[0, -1] * seen.clamp_min(0) + floor[0, -1])  # finest window
    assert ((windowed(held) - seen).abs() <= 2 * bound).all()  # back within the noise
    assert torch.allclose(held[..., 10:14, 10:14], e[..., 10:14, 10:14], atol=0.5)  # the input
    output = cal.counts(held[0, 0].numpy())
    assert outside(counts, output, 1.0, cal) < 0.02  # and so are its 4x4 blocks
    assert (held - invented)[..., 26:, 26:].abs().max() < 0.5  # far away: all but untouched
    # outside the training domain the hold is tighter: the output strays less from the input
    tighter = project(invented, e, floor, slope, limit=OUT_OF_DOMAIN)
    assert (windowed(tighter) - seen).abs().max() < 0.95 * (windowed(held) - seen).abs().max()


def test_the_hold_leaves_a_right_output_all_but_untouched(rng):
    """Where noise alone strays beyond the limit, the truth moves by the excess only."""
    y, x = np.mgrid[:256, :256]
    lattice = 8.0 * np.cos(2 * np.pi * x / 5.0) * np.cos(2 * np.pi * y / 5.0)
    truth = 30.0 + 10.0 * np.sin(x / 9.0) * np.cos(y / 13.0) + lattice
    cal, _, e, noise = read_out(truth, rng)
    right = torch.from_numpy(truth.astype(np.float32))[None, None]
    held = project(right, e, *noise)
    sd = np.sqrt(cal.slope * truth.mean() + cal.floor)  # a pixel's noise
    # 0.017-0.021 sd over 6 seeds (0.04 with LIMIT at 2.25 sigma)
    assert float((held - right).square().mean().sqrt()) < 0.03 * sd


def test_the_blend_follows_the_input_only_as_far_as_the_output_errs(rng):
    """An output right within the noise is kept; one whose level is off everywhere follows
    the input most of the way; pixels not to be compared are never moved."""
    y, x = np.mgrid[:96, :96]
    truth = 20.0 + 10.0 * np.sin(x / 9.0) * np.cos(y / 13.0)
    _, _, e, noise = read_out(truth, rng)
    right = torch.from_numpy(truth.astype(np.float32))[None, None]
    way = (windowed(e, 4.8) - right).abs().mean()  # to the input's noise in a fine window
    assert (blend(right, e, *noise) - right).abs().mean() < 0.25 * way  # 0-0.17 over 8 seeds
    off = 1.1 * right  # 2 e too bright on average: 9 sd of the coarse window
    moved = blend(off, e, *noise)
    assert (moved - right).mean().abs() < 0.1 * (off - right).mean()  # 0.03 at most
    valid = torch.ones_like(e, dtype=torch.bool)
    valid[..., :, :40] = False  # as if clipped
    kept = blend(off, e, *noise, valid=valid)
    torch.testing.assert_close(kept[..., :, :30], off[..., :, :30])
    assert (kept - right)[..., :, 60:].mean().abs() < 0.25 * (off - right).mean()  # fewer windows


def test_the_inputs_shared_windows_change_nothing(rng):
    """blend and hold given one `Seen` of the input (its windows computed once) give what
    they give on the input itself, saturated and clipped pixels included."""
    truth = np.full((48, 48), 20.0)
    truth[16:32, 16:32] = 80.0
    _, _, e, noise = read_out(truth, rng)
    clean = 1.2 * torch.from_numpy(truth.astype(np.float32))[None, None]
    valid = torch.ones_like(e, dtype=torch.bool)
    valid[..., :, :8] = False  # as if clipped
    top = torch.tensor([60.0])  # the particle saturates
    seen = Seen(e)
    for step in (blend, project):
        torch.testing.assert_close(
            step(clean, seen, *noise, valid=valid, top=top),
            step(clean, e, *noise, valid=valid, top=top),
        )
    for sigma in WINDOWS:  # each view is the input's through its own window
        torch.testing.assert_close(seen.through(sigma), windowed(e, sigma))


@pytest.mark.parametrize("sigma", WINDOWS)
def test_a_window_at_the_border_sees_the_noise_the_mirror_doubles(sigma):
    """On the border rows the 1.2 px window's noise variance is 1.5x its value inside: the
    hold took noise there for content (a speck of held pixels on an image's last row)."""
    noise = torch.randn(4000, 1, 40, 56, generator=torch.Generator().manual_seed(1))
    measured = windowed(noise, sigma).var(dim=0)[0] / np.square(window_taps(sigma)).sum() ** 2
    expected = border_excess(40, 56, sigma)
    torch.testing.assert_close(measured.float(), expected.float(), rtol=0.1, atol=0)
    if sigma < 2:
        assert abs(expected[20, 28] - 1) < 1e-9 and expected[0, 28] > 1.4 and expected[0, 0] > 2.2


@pytest.mark.parametrize("fast", ["fft", "matrix"])
@pytest.mark.parametrize("squared", [False, True])
def test_windows_by_fft_or_matrices_are_the_convolutions(monkeypatch, fast, squared):
    import cimp.denoise.consistency as consistency

    x = torch.rand(2, 1, 130, 150, generator=torch.Generator().manual_seed(0)) * 100
    monkeypatch.setattr(consistency, "MATRIX", 256 if fast == "matrix" else 0)
    monkeypatch.setattr(consistency, "CONVOLVED", 0)  # with no matrices, every window by FFT
    quick = [windowed(x, sigma, squared) for sigma in consistency.WINDOWS]
    monkeypatch.setattr(consistency, "MATRIX", 0)
    monkeypatch.setattr(consistency, "CONVOLVED", 10**9)
    monkeypatch.setattr(consistency, "FFT_TAPS", 10**9)  # every window by convolution
    for sigma, q in zip(consistency.WINDOWS, quick, strict=True):
        torch.testing.assert_close(q, windowed(x, sigma, squared), rtol=0, atol=1e-3)


def test_the_hold_compares_only_what_the_output_shows(rng):
    """Where the output reads saturated, its excess above the top must not hide a dark rim
    beside it: the windows compare the unsaturated pixels alone."""
    truth = np.full((48, 48), 20.0)
    truth[16:32, 16:32] = 80.0  # a particle brighter than the output can show
    _, _, e, noise = read_out(truth, rng)
    clean = torch.from_numpy(truth.astype(np.float32))[None, None]
    clean[..., 16:32, 16:32] = 95.0  # above the top (60): it reads saturated either way
    rim = torch.zeros_like(clean, dtype=torch.bool)
    rim[..., 14:34, 14:34] = True
    rim[..., 16:32, 16:32] = False
    clean[rim] = 10.0  # too dark beside it
    floor, slope = (float(x[0, -1]) for x in noise)
    sd = np.sqrt(slope * 20.0 + floor)  # the finest window's, at the rim
    plain = project(clean, e, *noise)[rim].mean()
    assert plain < float(e[rim].mean()) - 4.5 * sd  # the excess hides the rim
    held = project(clean, e, *noise, top=torch.tensor([60.0]))
    assert held[rim].mean() > plain + 1.5  # lifted towards the input (by 2 e)
    assert (held[..., 18:30, 18:30] == 95.0).all()  # what the input agrees is saturated stays


def test_the_hold_leaves_a_right_output_of_few_shown_pixels_as_it_is(rng):
    """A window that compares a few shown pixels at its centre (a dip in a saturated field)
    sees their noise under their squared weights, more than their share of the window says:
    read by the share, the hold took noise for a stray at 5 % of such dips, and moved
    a right output towards it (the benchmark's saturated scenes lost up to 0.55 dB)."""
    truth = np.full((160, 160), 95.0)  # above the top (60): saturated at the target
    truth[4::8, 4::8] = 40.0  # 400 single pixels below it
    cal, _, e, noise = read_out(truth, rng)
    clean = torch.from_numpy(truth.astype(np.float32))[None, None]
    held = project(clean, e, *noise, top=torch.tensor([60.0]))
    sd = float(np.sqrt(cal.slope * 40.0 + cal.floor))
    assert ((held - clean).abs()[0, 0, 4::8, 4::8] > 0.1 * sd).float().mean() < 0.03


def test_the_hold_judges_clipping_by_the_output_not_by_the_noise(rng):
    """Near the black level the hold compares only where readings would not clip, judged
    from the output's level (or the input's smooth one), never from which noisy pixels
    clipped: windows whose pixels all happened to stay above zero read too bright."""
    meta = {"detector_gain": 40.0, "detector_offset": -4.1, "dwell_time": 2.0}
    cal = calibrate(meta)
    truth = np.full((48, 48), 0.05)  # dark: about a quarter of the readings clip at zero
    truth[16:32, 16:32] = 60.0  # a particle
    counts = detect(truth, 2.0, 40.0, -4.1, rng=rng)
    assert 0.1 < np.mean(counts[:8] == 0) < 0.5
    e = torch.from_numpy(cal.electrons(counts.astype(np.float32)))[None, None]
    lost = torch.full_like(e, 0.05)  # an output that lost the particle
    seen = readable(lost, e, cal, counts.dtype)[0, 0]
    assert not seen[:8].any()  # the dark field: its readings clip, nothing to compare
    assert seen[20:28, 20:28].all()  # the particle the output lost: compared
    assert readable(lost, e, cal, np.float32).all()  # a float image never clips
    glare = torch.full_like(e, 1e7)  # an output that claims the top over the whole image
    claimed = readable(glare, e, cal, counts.dtype)[0, 0]
    assert claimed[:8].all() and claimed[20:28, 20:28].all()  # the input reads below: compared


def test_a_stabilised_value_below_the_range_reads_as_no_electrons():
    """The inverse transform of a far negative value (a U-Net's wild output) is no signal,
    not its square: -10^4 had read as the detector's top on a dark image."""
    cal = calibrate({"detector_gain": 40.0, "detector_offset": -4.1, "dwell_time": 2.0})
    e = torch.tensor([0.0, 0.5, 30.0, 900.0], dtype=torch.float64)
    z = stabilise(e, cal.slope, cal.floor)
    assert torch.allclose(unstabilise(z, cal.slope, cal.floor), e)
    below = unstabilise(torch.tensor([-1e4, -1.0, 0.0]), cal.slope, cal.floor)
    assert (below <= 0.0).all() and below[0] == below[2]


def test_cli_writes_the_result_beside_the_input_and_goes_on_past_bad_files(drun, tmp_path):
    low = sorted((drun[1] / "raw").glob("*-low.hspy"))[0]
    source = shutil.copy(low, tmp_path / "scan.hspy")
    bad = tmp_path / "broken.dm4"
    bad.write_bytes(b"not a dm4 file")
    result = runner.invoke(
        app, ["denoise", str(drun[0]), str(source), str(bad), "--dwell-time", "x4"]
    )
    assert result.exit_code == 1, result.output
    assert "broken.dm4" in result.output
    written = read(tmp_path / "scan-dose-x4.hspy")[0]
    before = read(source)[0]
    assert written.image.dtype == np.float32 and written.image.shape == before.image.shape
    assert written.metadata["dwell_time"] == pytest.approx(4 * before.metadata["dwell_time"])
    assert written.metadata["detector_gain"] == pytest.approx(before.metadata["detector_gain"])

    result = runner.invoke(
        app, ["denoise", str(drun[0]), str(source), "--beam-current", "x2", "--format", "tiff"]
    )
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(tmp_path / "scan-dose-x2.tif") as tif:
        record = json.loads(tif.pages[0].description)["cimp"]
        assert tif.pages[0].dtype == np.float32
    assert record["dose_transfer"]["changes"] == {"beam_current": "x2"}
    assert record["source"]["acquisition"]["beam_current"] == before.metadata["beam_current"]


def test_cli_trains_a_denoiser_and_resumes_it(drun, tmp_path):
    root = drun[1]
    out = tmp_path / "drun"
    args = ["train-denoiser", str(root / "run"), str(root / "pairs"), "--out", str(out)]
    small = ["--widths", "8,16", "--twin", "8", "--size", "64", "--crop", "32"]
    result = runner.invoke(app, [*args, "--steps", "3", *small])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["unet"]["widths"] == [8, 16] and set(config["examples"]) == {"twin", "pairs"}
    native = bf16_native(torch.device("cpu"))
    assert config["precision"] == ("bfloat16" if native else "float32")
    first = Denoiser(out, "cpu").weights
    assert first != Denoiser(drun[0], "cpu").weights
    result = runner.invoke(app, [*args, "--steps", "2", "--resume", "--fp32", *small])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["precision"] == "float32"
    log = (out / "log.jsonl").read_text().splitlines()
    assert config["steps_done"] == 5 and [json.loads(x)["step"] for x in log] == [1, 2, 3, 4, 5]
    assert Denoiser(out, "cpu").weights != first
    other = runner.invoke(app, [*args, "--steps", "1", "--resume", "--widths", "8,16,32"])
    assert other.exit_code != 0 and "differs from the one asked for" in other.output
    assert "widths [8, 16] (asked: [8, 16, 32])" in " ".join(other.output.split())


def test_a_training_on_a_time_budget_stops_when_the_time_is_up(drun, tmp_path):
    out = tmp_path / "budget"
    args = ["train-denoiser", str(drun[1] / "run"), "--out", str(out), "--minutes", "0.0001"]
    small = ["--widths", "8,16", "--twin", "8", "--size", "64", "--crop", "32"]
    result = runner.invoke(app, [*args, *small])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert config["train"]["steps"] == config["steps_done"] == len(log) == 1
    assert "val_loss" in log[-1]  # the last step is validated, as in a planned run
    bad = runner.invoke(app, [*args[:-1], "0", *small])
    assert bad.exit_code != 0 and "minutes must be positive" in bad.output


def test_cli_asks_for_a_target(drun, tmp_path):
    result = runner.invoke(app, ["denoise", str(drun[0]), str(tmp_path / "x.hspy")])
    assert result.exit_code != 0 and "--dwell-time" in result.output


def _transfer(denoiser, acquisition, changes):
    s = acquisition.settings
    source = {k: getattr(s, k) for k in ("pixel_size", "dwell_time", "beam_current")}
    source |= {k: v for k, v in s.metadata().items() if isinstance(v, float)}
    return denoiser.transfer(acquisition.image, source, changes).image


@pytest.mark.parametrize("support_nm", [0.0, 8.0])  # vacuum, amorphous carbon
def test_no_lattice_is_invented_in_vacuum_or_amorphous_carbon(drun, rng, support_nm):
    denoiser = Denoiser(drun[0], "cpu")
    scene = quiet_scene(None, support_nm=support_nm)
    image = acquire(scene, settings(size=64, dwell_time=1.0), rng)
    out = _transfer(denoiser, image, {"dwell_time": "x8"})
    assert lattice_peaks(out).size == 0
    assert lattice_contrast(out) < 20.0


def test_a_bias_of_the_unets_2x2_grid_never_reaches_the_output(drun, rng, monkeypatch):
    denoiser = Denoiser(drun[0], "cpu")
    crystal = acquire(
        quiet_scene("Au [001]"), settings(dwell_time=2.0, beam_current=5.0), rng, True
    )
    forward = denoiser.unet.forward

    def parities(h, w):  # the 2x2 sub-images' own biases: columns, rows, checkerboard
        y, x = np.mgrid[:h, :w]
        return [(-1.0) ** x, (-1.0) ** y, (-1.0) ** (x + y)]

    def biased(z, cond):  # each 0.3 sigma, as a U-Net on 2x2 sub-images can leave them
        bias = 0.3 * sum(parities(*z.shape[-2:]))
        return forward(z, cond) + torch.as_tensor(bias, dtype=z.dtype)

    monkeypatch.setattr(denoiser.unet, "forward", biased)
    out = _transfer(denoiser, crystal, {"dwell_time": "x2"}) / 2  # at the source's level
    sigma = np.std(crystal.image.astype(np.float64) - crystal.expected)
    # the two grid placements cancel columns and rows; the guide's parities, the checkerboard
    for pattern in parities(*out.shape):  # (0.26 sigma without them)
        assert abs(np.mean(out * pattern)) < 0.01 * sigma


def test_the_lattice_keeps_its_period(drun, rng):
    denoiser = Denoiser(drun[0], "cpu")
    crystal = acquire(
        quiet_scene("Au [001]"), settings(dwell_time=2.0, beam_current=5.0), rng, True
    )
    out = _transfer(denoiser, crystal, {"dwell_time": "x8"})
    truth = np.concatenate([lattice_peaks(crystal.expected), lattice_peaks(crystal.image)])
    found = lattice_peaks(out)
    assert len(found) >= 4
    distance = np.abs(found[:, None, :] - truth[None, :, :]).max(axis=2).min(axis=1)
    assert distance.max() <= 1  # every reflection of the output is one of the crystal's
    strongest = lattice_peaks(crystal.image)[0]
    assert np.abs(found - strongest).max(axis=1).min() <= 1  # and the strongest is kept


def test_a_reflection_the_specimen_lacks_is_called_invented(rng):
    crystal = acquire(quiet_scene("Au [001]"), settings(dwell_time=2.0), rng, True).expected
    assert len(invented_reflections(crystal, crystal)[0]) == 0
    y, x = np.mgrid[:128, :128]
    extra = 0.05 * crystal.std() * np.cos(2 * np.pi * (5 * y + 29 * x) / 128)  # no reflection
    offsets, strength = invented_reflections(crystal + extra, crystal)
    assert len(offsets) == 2  # the cosine's two reflections, to the bin (ring contrast's peak)
    assert np.abs(np.abs(offsets) - [5, 29]).max() <= 1
    assert np.all(strength < -10.0)  # far weaker than the lattice's reflections
    stronger = invented_reflections(crystal + 20 * extra, crystal)[1]
    np.testing.assert_allclose(stronger - strength, 20 * np.log10(20), atol=0.5)


def test_a_gain_measured_from_the_noise_needs_no_side_a_multiple_of_its_blocks(rng):
    """Without a recorded gain the noise is read in 8 px blocks: a frame of any size, as
    real ones are (2048 x 1536, a crop), gives the gain its whole blocks give."""
    s = settings(size=256, beam_current=20.0, dwell_time=4.0)
    image = acquire(quiet_scene("Au [001]"), s, rng).image.astype(np.float32)
    unknown = {k: v for k, v in s.metadata().items() if k != "detector_gain"}
    whole = calibrate(unknown, image[:200, :256])
    for rows, cols in ((200, 260), (203, 259), (131, 255)):
        cal = calibrate(unknown, image[:rows, :cols])
        assert cal.gain_from == "image" and cal.gain == pytest.approx(whole.gain, rel=0.05)
    assert calibrate(unknown, image[:203, :263]).gain == whole.gain  # the same whole blocks


def test_a_real_velox_haadf_image_keeps_its_content(drun, real_files, tmp_path):
    source = real_files / "emd_files" / "fei_emd_image.emd"  # Talos HAADF, 512 x 512
    result = runner.invoke(
        app,
        [
            "denoise",
            str(drun[0]),
            str(source),
            "--dwell-time",
            "x2",
            "--tile",
            "128",
            "--out-dir",
            str(tmp_path),
            "--preview",
        ],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    written = read(tmp_path / "fei_emd_image-dose-x2.hspy")[0]  # Velox EMD is not writable
    before = read(source)[0]
    assert written.image.shape == (512, 512) and np.isfinite(written.image).all()
    assert written.metadata["dwell_time"] == pytest.approx(2 * before.metadata["dwell_time"])
    assert written.metadata["pixel_size"] == pytest.approx(before.metadata["pixel_size"])
    # the file records neither gain nor offset: both are read from the image, and said so
    said = " ".join(result.output.split())
    assert "no detector gain recorded" in said and "no detector offset recorded" in said
    assert "the output is held to the input within 2.5 sigma of its noise, not 2.75" in said
    cal = calibrate(before.metadata, before.image)
    assert outside(before.image, written.image, 2.0, cal) < 0.005  # content is the input's
    floor = 3 * np.sqrt(cal.floor) * cal.gain
    assert written.image.min() >= cal.black - floor and written.image.max() <= 65535
    assert (tmp_path / "fei_emd_image-dose-x2.preview.png").stat().st_size > 10_000


def test_no_moat_is_dug_around_a_particle(drun, rng):
    denoiser = Denoiser(drun[0], "cpu")
    gold = crystal_index("Au [001]")
    particle = Grain(gold, 0.0, (0.0, 0.0), 5.0, 0.0, 0.0, centre=(0.0, 0.0), radius=1.5)
    scene = replace(quiet_scene(None, support_nm=3.0), particles=(particle,))
    s = settings(size=128, pixel_size=0.1, dwell_time=2.0, beam_current=10.0)
    acq = acquire(scene, s, rng, True)
    result = denoiser.transfer(acq.image, s.metadata(), {"dwell_time": "x4"})
    cal = result.calibration
    out = cal.electrons(result.image) / 4
    inside = acq.expected > np.percentile(acq.expected, 90)
    ring = binary_dilation(inside, iterations=3) & ~binary_dilation(inside, iterations=1)
    far = ~binary_dilation(inside, iterations=8)
    assert ring.sum() > 50 and far.sum() > 500
    sigma = np.sqrt((cal.slope * out[far].mean() + cal.floor) / ring.sum())
    assert out[ring].mean() > out[far].mean() - 3 * sigma  # the rim is no darker than support
    assert outside(acq.image, result.image, 4.0, cal) < 0.005


def test_a_huge_dose_ratio_writes_no_negative_counts_and_says_it_extrapolates(drun, tmp_path):
    low = sorted((drun[1] / "raw").glob("*-low.hspy"))[0]
    source = shutil.copy(low, tmp_path / "scan.hspy")
    result = runner.invoke(
        app, ["denoise", str(drun[0]), str(source), "--dwell-time", "x1000"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    written = read(tmp_path / "scan-dose-x1e+03.hspy")[0]
    assert written.image.min() >= 0
    assert "x1e+03 dose lies beyond" in " ".join(result.output.split())


def test_an_outputs_history_records_the_guides_share_and_saturated_pixels_are_named(drun, tmp_path):
    from cimp.denoise.files import domain_transfer
    from cimp.domain import for_run
    from cimp.io.simulated import ROOT
    from cimp.io.write import hspy_signal, settings_tree, write_hspy

    case = twin_case(3, 0, 64, "uniform", dose=300.0)  # SURE takes a share of its local guide
    signal = hspy_signal(case.image, case.source, ROOT, settings_tree(case.source), title="twin")
    write_hspy(tmp_path / "scan.hspy", signal)
    (record,) = read(tmp_path / "scan.hspy")
    denoiser = Denoiser(drun[0], "cpu")
    domain = for_run(denoiser.drun / "cimp")
    shares, guides = [], []
    for ratio in ("x4", "x1000"):
        args = ["denoise", str(drun[0]), str(tmp_path / "scan.hspy"), "--dwell-time", ratio]
        result = runner.invoke(app, [*args, "--format", "tiff"], env=WIDE)
        assert result.exit_code == 0, result.output
        (written,) = tmp_path.glob(f"scan-dose-{ratio.replace('1000', '1e+03')}.tif")
        with tifffile.TiffFile(written) as tif:
            history = json.loads(tif.pages[0].description)["cimp"]["dose_transfer"]
            image = tif.pages[0].asarray()
        direct, _ = domain_transfer(
            denoiser, domain, record, {"dwell_time": ratio}, tile=512, show_progress=False
        )
        assert history["guide_share"] == pytest.approx(direct.guide, abs=1e-6)
        guides.append(history["guide_share"])
        assert history["structure_kept"] == direct.kept and history["changes"]
        saturated = float(np.mean(image >= np.iinfo(np.uint16).max))
        named = re.search(
            r"([\d.]+) % of pixels would exceed the detector's range", text_of(result)
        )
        shares.append(saturated)  # the share at the detector's top is the share the note names
        assert named is not None and float(named.group(1)) == pytest.approx(
            100 * saturated, abs=0.01
        )
        written.unlink()
    assert 0.0 < shares[0] < 0.2 < shares[1] and guides[0] > 0.0, (shares, guides)


def test_a_bad_option_is_reported_once_not_once_per_file(drun, tmp_path):
    lows = sorted((drun[1] / "raw").glob("*-low.hspy"))[:3]
    result = runner.invoke(
        app, ["denoise", str(drun[0]), *map(str, lows), "--dwell-time", "fourfold"]
    )
    assert result.exit_code == 2 and result.output.count("dwell_time") == 1, result.output
    result = runner.invoke(app, ["denoise", str(drun[0]), *map(str, lows), "--dwell-time", "2kg"])
    assert result.exit_code == 2 and result.output.count("error") == 1, result.output


def test_a_dose_transfer_reads_back_as_derived_and_ingest_skips_it(drun, tmp_path):
    low = sorted((drun[1] / "raw").glob("*-low.hspy"))[0]
    source = shutil.copy(low, tmp_path / "scan.hspy")
    for fmt in ("hspy", "tiff"):
        args = ["denoise", str(drun[0]), str(source), "--dwell-time", "x4", "--format", fmt]
        assert runner.invoke(app, [*args, "--out-dir", str(tmp_path / "out")]).exit_code == 0
    for written in sorted((tmp_path / "out").iterdir()):
        (record,) = read(written)
        assert record.extra["origin"] == "derived", written
        shown = runner.invoke(app, ["inspect", str(written)], env=WIDE)
        assert "derived" in shown.output and "not an acquisition" in shown.output
    report = ingest([tmp_path / "out"], tmp_path / "ds", show_progress=False)
    assert report.images_added == 0 and len(report.skipped) == 2
    assert all("written by cimp" in reason for _, reason in report.skipped)
    again = ingest([tmp_path / "out"], tmp_path / "ds2", show_progress=False, include_derived=True)
    assert (again.images_added, again.duplicates) == (1, 1)  # both files hold the same pixels


def test_denoise_names_an_image_out_of_the_cimp_runs_domain(drun, tmp_path):
    low = read(sorted((drun[1] / "raw").glob("*-low.hspy"))[0])[0]
    tifffile.imwrite(tmp_path / "real.tif", low.image)  # the same pixels, as a real TIFF
    result = runner.invoke(
        app, ["denoise", str(drun[0]), str(tmp_path / "real.tif"), "--dwell-time", "x2"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    assert "a real image; the run was trained on simulated images only" in result.output
