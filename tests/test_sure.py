"""The guide's share by SURE (`cimp.denoise.sure`): what the truth would choose, read
without it."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from cimp.denoise import sure
from cimp.denoise.electrons import calibrate, stabilise, unstabilise

CAL = calibrate({"detector_gain": 20.0, "detector_offset": -1.0, "dwell_time": 2.0})


def _z(e):
    return stabilise(torch.from_numpy(np.asarray(e, dtype=np.float64)), CAL.slope, CAL.floor)


def _e(z):
    return unstabilise(torch.as_tensor(z, dtype=torch.float64), CAL.slope, CAL.floor).numpy()


def _scene(period: float, size: int = 128) -> np.ndarray:
    """Clean electrons: a lattice of `period` px over a level of 40 e."""
    y, x = np.mgrid[:size, :size] * (2 * np.pi / period)
    return 40.0 + 15.0 * np.cos(x) * np.cos(0.8 * y)


def _noisy(clean: np.ndarray, seed: int) -> np.ndarray:
    """The image of `clean`: its stabilised level plus noise of the detector's spectrum."""
    noise = sure.noise_like(CAL, float(clean.mean()), clean.shape, np.random.default_rng(seed))
    return _e(_z(clean).numpy() + noise).astype(np.float32)


def _blurs(e: np.ndarray, rows: slice | None = None):
    """Two linear estimates in stabilised units of the image's `rows` e: a strong blur (the
    'U-Net') and a light one (the 'guide')."""
    z = _z(e).numpy()
    return gaussian_filter(z, 2.5, mode="reflect"), gaussian_filter(z, 0.8, mode="reflect")


@pytest.mark.parametrize(
    "period, low, high", [(40.0, 0.0, 0.1), (10.0, 0.85, 1.0), (3.0, 0.5, 0.8)]
)
def test_the_share_is_the_truths_best_blend(period, low, high):
    """Smooth content wants the strong blur, finer content the light one, the finest a
    blend (the light blur loses it too): SURE's share lands within 0.1 of the share the
    clean image says is best. Without the traces it would take the light blur whole (its
    unclipped share is 1.5-2.9 on all three)."""
    clean = _scene(period)
    e = _noisy(clean, seed=1)
    u, g = (np.maximum(_e(z), 0.0) for z in _blurs(e))
    valid = np.ones(e.shape, dtype=bool)
    share = sure.guide_share(u, g, e, CAL, valid=valid, estimate=_blurs)
    d = g - u
    best = float(np.clip(-np.sum((u - clean) * d) / np.sum(d * d), 0.0, 1.0))
    assert abs(share - best) < 0.1
    assert low <= share <= high


def test_an_image_mostly_clipped_keeps_the_unets_estimate():
    """Where clipping leaves SURE under half the pixels to read, the guide gets no share
    and no extra pass is run."""
    e = _noisy(_scene(3.0), seed=2)
    u, g = (np.maximum(_e(z), 0.0) for z in _blurs(e))
    valid = np.zeros(e.shape, dtype=bool)
    valid[:, :60] = True

    def never(_, rows):
        raise AssertionError("no pass is needed")

    assert sure.guide_share(u, g, e, CAL, valid=valid, estimate=never) == 0.0


def test_a_large_images_traces_are_read_on_its_centre(monkeypatch):
    """A 512 px image's traces come from its centre 256 px (one pass there), scaled to the
    whole, within 5 % of those read on all of it."""
    e = _noisy(_scene(7.0, size=512), seed=3)
    valid = np.ones(e.shape, dtype=bool)
    sizes = []

    def estimate(x, rows):
        sizes.append((x.shape, rows.start, rows.stop))
        return _blurs(x)

    centre = sure.traces(e, CAL, estimate, valid)
    assert set(sizes) == {((256, 256), 128, 384)}  # the image's rows it covers
    monkeypatch.setattr(sure, "REGION", 512)
    whole = sure.traces(e, CAL, _blurs, valid)
    assert centre == pytest.approx(whole, rel=0.05)


def test_a_share_the_noise_alone_could_give_is_none():
    """A 'guide' that differs from the estimate by a faint fixed pattern, not by anything
    the image says: SURE's share is then the noise's draw (without the 2-standard-error
    rule it was 0.03-1.0 on 7 of 12 draws); with it, none."""
    pattern = np.random.default_rng(99).standard_normal((128, 128))

    def faint(e, rows=None):
        u = _blurs(e)[0]
        return u, u + 0.01 * pattern

    shares = []
    for seed in range(12):
        e = _noisy(_scene(40.0), seed)
        u, g = (np.maximum(_e(z), 0.0) for z in faint(e))
        shares.append(
            sure.guide_share(u, g, e, CAL, valid=np.ones(e.shape, dtype=bool), estimate=faint)
        )
    assert shares == [0.0] * 12


def test_the_share_is_chosen_for_the_output_after_what_follows():
    """A guide whose level is off by 6 e everywhere, followed by a step that takes the
    image's level from the input (as the blend takes window levels): SURE with `after` lands
    within 0.1 of the share the clean image says is best after that step, where the share
    read on the output as it stands is pulled down by an offset the step removes anyway."""
    clean = _scene(10.0)
    e = _noisy(clean, seed=1)
    u, g = (np.maximum(_e(z), 0.0) for z in _blurs(e))
    g = g + 6.0

    def level_off(x, rows=None):
        z_u, z_g = _blurs(x)
        return z_u, _z(np.maximum(_e(z_g), 0.0) + 6.0).numpy()

    def survives(change):
        return change - change.mean()

    base = u + (e - u).mean()
    valid = np.ones(e.shape, dtype=bool)
    share = sure.guide_share(u, g, e, CAL, valid=valid, estimate=level_off, after=(base, survives))
    d = survives(g - u)
    best = float(np.clip(-np.sum((base - clean) * d) / np.sum(d * d), 0.0, 1.0))
    assert abs(share - best) < 0.1
    assert sure.guide_share(u, g, e, CAL, valid=valid, estimate=level_off) < best - 0.3
