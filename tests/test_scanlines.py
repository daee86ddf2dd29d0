"""The scan's line-by-line displacements: read from the image, undone for the guides only."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import quiet_scene, settings

from cimp.denoise.electrons import calibrate, stabilise
from cimp.denoise.scanlines import Lines, read
from cimp.denoise.wiener import local_guide, unet_inputs
from cimp.simulator import acquire
from cimp.simulator.render import scan_grid


def lattice(jitter_nm: float, mains_nm: float, rng, crystal="Au [001]", current=5.0):
    """A lattice at 0.01 nm/px whose lines the scan moved by `jitter_nm` (rms, at random) and
    by 50 Hz mains of `mains_nm`; (calibration, electrons, noise-free electrons, the lines'
    displacements in px)."""
    s = settings(pixel_size=0.01, beam_current=current, dwell_time=4.0)
    scene = replace(quiet_scene(crystal), line_jitter_nm=jitter_nm, mains_nm=mains_nm)
    acq = acquire(scene, s, rng, expected=True)
    cal = calibrate(s.metadata())
    e, clean = (cal.electrons(np.asarray(x, dtype=np.float64)) for x in (acq.image, acq.expected))
    grid = scan_grid(s, scene, np.random.default_rng(scene.seed))
    dy = grid.Y / s.pixel_size - (np.arange(s.size) - s.size / 2)
    return cal, e, clean, Lines(grid.ox / s.pixel_size, dy)


def error(estimate, clean, cal):
    truth = stabilise(torch.from_numpy(clean), cal.slope, cal.floor).numpy()
    return float(np.sqrt(np.mean(np.square(estimate - truth)[:, 8:-8])))


def test_displaced_lines_are_read_and_sharpen_the_guides(rng):
    cal, e, clean, true = lattice(0.01, 0.02, rng)  # 16 electrons a pixel
    assert np.hypot(true.dx.std(), true.dy.std()) > 1.0  # px: a lattice that zig-zags
    lines = read(e, cal)
    assert lines is not None
    assert np.corrcoef(np.diff(lines.dx), np.diff(true.dx))[0, 1] > 0.4  # as the scan moved
    as_is, straightened = (unet_inputs(e, cal, lines=x)[2] for x in (None, lines))
    assert error(straightened, clean, cal) < 0.8 * error(as_is, clean, cal)
    # the guides stay where the lines were scanned: the output is not straightened
    assert error(straightened, clean, cal) < error(lines.straight(straightened), clean, cal)


def test_a_bright_image_keeps_its_guides(rng):
    cal, e, _, _ = lattice(0.01, 0.02, rng, current=50.0)  # 170 electrons a pixel
    assert read(e, cal) is None  # its guide keeps the zig-zag: nothing to read against


@pytest.mark.parametrize("crystal", ["Au [001]", None])
def test_straight_lines_are_left_alone(crystal, rng):
    cal, e, _, true = lattice(0.0, 0.0, rng, crystal)
    assert np.allclose(true.dx, 0.0) and np.allclose(true.dy - true.dy.mean(), 0.0)
    assert read(e, cal) is None
    assert np.array_equal(unet_inputs(e, cal, lines=None)[2], local_guide(e, cal))


def test_lines_are_put_straight_and_sampled_back():
    def specimen(x, y):  # a lattice of 13 and 29 px
        return np.cos(2 * np.pi * (x / 13.0 + y / 29.0))

    rng = np.random.default_rng(0)
    lines = Lines(rng.normal(0, 0.5, 64), rng.normal(0, 0.3, 64))
    y, x = np.mgrid[:64, :64].astype(float)
    scanned = specimen(x + lines.dx[:, None], y + lines.dy[:, None])
    inside = (slice(2, -2), slice(4, -4))  # the lines' ends read their mirror
    assert np.abs(lines.straight(scanned) - specimen(x, y))[inside].max() < 0.05
    assert np.abs(lines.scanned(specimen(x, y)) - scanned)[inside].max() < 0.05
    assert Lines(np.zeros(64), np.zeros(64)).straight(scanned) is scanned
