"""The Fourier guide: the detector's noise spectrum, nothing kept from noise, a lattice kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import quiet_scene, settings
from scipy.ndimage import gaussian_filter

from cimp.denoise.electrons import calibrate, stabilise
from cimp.denoise.wiener import (
    INPUTS,
    LOCAL,
    WIDE,
    guide,
    line_spectrum,
    local_guide,
    parities_from,
    unet_inputs,
)
from cimp.simulator import acquire


def stabilised(s, image):
    cal = calibrate(s.metadata())
    e = cal.electrons(np.asarray(image, dtype=np.float64))
    return cal, e, stabilise(torch.from_numpy(e), cal.slope, cal.floor).numpy()


@pytest.mark.parametrize("dwell", [0.5, 10.0])
def test_the_noise_spectrum_is_the_detectors(dwell, rng):
    s = settings(dwell_time=dwell, beam_current=2.0, pixel_size=0.05, size=256)
    acq = acquire(quiet_scene(None), s, rng, expected=True)
    cal, e, z = stabilised(s, acq.image)
    noise = z - stabilised(s, acq.expected)[2]
    measured = (np.abs(np.fft.rfft2(noise)) ** 2 / noise.size).mean(axis=0)
    model = line_spectrum(cal, float(e.mean()), 256)[:129]
    # the response piles the noise into low frequencies along the line at short dwell times
    low, high = slice(2, 12), slice(-24, None)
    assert measured[low].mean() / measured[high].mean() == pytest.approx(
        model[low].mean() / model[high].mean(), rel=0.15
    )
    assert (model[low].mean() > 2 * model[high].mean()) == (dwell < 1)


def test_noise_alone_leaves_the_guide_flat(rng):
    s = settings(beam_current=2.0, size=256)
    acq = acquire(quiet_scene(None), s, rng, expected=True)
    cal, e, z = stabilised(s, acq.image)
    g = guide(e, cal)
    assert z.std() == pytest.approx(1.0, rel=0.1)  # unit noise in...
    assert g.std() < 0.05  # ...next to none out: no frequency kept by chance


def test_a_lattice_is_kept_and_its_noise_removed(rng):
    s = settings(beam_current=0.5, pixel_size=0.02, size=256)
    acq = acquire(quiet_scene("Au [001]"), s, rng, expected=True)
    cal, e, z = stabilised(s, acq.image)
    truth = stabilised(s, acq.expected)[2]
    g = guide(e, cal)
    assert np.sqrt(np.mean((g - truth) ** 2)) < 0.35 * np.sqrt(np.mean((z - truth) ** 2))
    power = [np.abs(np.fft.fft2(x - x.mean())) ** 2 / x.size for x in (g, truth)]
    kept, reflections = power[0] > 1.0, power[1] > 20.0  # above the noise; strong
    assert kept.sum() >= reflections.sum() >= 8
    assert (power[1][kept] > 1.0).all()  # every frequency kept is the crystal's...
    assert power[0][reflections].sum() == pytest.approx(power[1][reflections].sum(), rel=0.1)


def test_the_pixel_parities_come_from_the_guide_and_nothing_else_moves(rng):
    s = settings(beam_current=0.5, pixel_size=0.02, size=128)
    acq = acquire(quiet_scene("Au [001]"), s, rng, expected=True)
    cal, e, _ = stabilised(s, acq.image)
    g = guide(e, cal)  # a lattice: everything but its parities must stay as it is
    columns = (-1.0) ** np.arange(128)[None, :]
    biased = g + 0.3 * columns  # the U-Net's 2x2 grid, biasing alternate columns
    out = parities_from(biased, g)
    assert np.abs(out - g).max() < 1e-5
    checkerboard = columns * (-1.0) ** np.arange(128)[:, None]
    fringes = g + 0.3 * checkerboard  # 2 px fringes the input shows: kept
    out = parities_from(biased, fringes)
    assert np.abs(out - fringes).max() < 1e-5
    assert out.mean() == pytest.approx(biased.mean(), abs=1e-5)


def test_the_local_guide_keeps_a_lattice_where_it_is(rng):
    """A crystal beside vacuum: the whole image's guide spreads the crystal's reflections
    over the vacuum too; the local one keeps the lattice on the crystal and the vacuum flat."""
    s = settings(beam_current=5.0, pixel_size=0.02, size=256)
    crystal, vacuum = (acquire(quiet_scene(n), s, rng, expected=True) for n in ("Au [001]", None))
    half = np.arange(256)[None, :] < 128
    image = np.where(half, crystal.image, vacuum.image)
    cal, e, z = stabilised(s, image)
    truth = stabilised(s, np.where(half, crystal.expected, vacuum.expected))[2]
    whole, local = guide(e, cal), local_guide(e, cal)
    assert local.shape == z.shape and local.dtype == np.float32

    def rms(x, part):
        return np.sqrt(np.mean((x - truth)[:, part] ** 2))

    on, off = slice(0, 128 - LOCAL), slice(128 + LOCAL, None)  # a window's reach from the edge
    assert rms(local, off) < 0.3 * rms(whole, off)  # measured: 0.07 against 0.29
    assert rms(local, on) < 0.7 * rms(z, on)  # the noise (1) less...
    assert rms(local, on) < 0.3 * truth[:, on].std()  # ...and the lattice (2.4) kept


def test_noise_alone_leaves_the_local_guide_flat(rng):
    s = settings(beam_current=2.0, size=160)
    acq = acquire(quiet_scene(None), s, rng, expected=True)
    cal, e, _ = stabilised(s, acq.image[:150, :131])  # whole windows need no whole image
    g = local_guide(e, cal)
    assert g.shape == (150, 131)
    assert g.std() < 0.15


@pytest.mark.parametrize("dwell", [0.5, 10.0])
def test_noise_alone_draws_no_stripes_in_the_local_guides_corners(dwell, rng):
    """A corner window reads the image mirrored twice: its noise is no longer even over the
    frequencies, nor complex. Judged against an inside window's noise it kept 1.4-1.7
    noise-only frequencies (150x the intended) and drew stripes: 61-74 % of corners had
    10x the fine detail of the inside (6 seeds). Against its own noise: 0-5 %."""
    s = settings(beam_current=2.0, size=96, dwell_time=dwell)
    cal = calibrate(s.metadata())
    corners, inside = [], []
    for _ in range(20):
        e = cal.electrons(acquire(quiet_scene(None), s, rng).image.astype(np.float64))
        g = local_guide(e, cal)
        fine = np.square(g - gaussian_filter(g, 2.0, mode="reflect"))
        ends = (slice(16), slice(-16, None))
        corners += [fine[rows, cols].mean() for rows in ends for cols in ends]
        inside.append(fine[32:64, 32:64].mean())
    assert np.mean(np.array(corners) > 10 * np.median(inside)) < 0.15


def test_the_unet_reads_the_image_its_whole_guide_and_two_local_ones(rng):
    s = settings(size=32)
    cal, e, _ = stabilised(s, acquire(quiet_scene(None), s, rng, expected=True).image)
    inputs = unet_inputs(e, cal)
    assert inputs.shape == (INPUTS, 32, 32) == (4, 32, 32)
    assert np.array_equal(inputs[0], e.astype(np.float32))
    assert np.array_equal(inputs[1], guide(e, cal))
    assert np.array_equal(inputs[2], local_guide(e, cal))
    assert np.array_equal(inputs[3], local_guide(e, cal, size=WIDE))
    assert not np.allclose(inputs[3], inputs[2])
