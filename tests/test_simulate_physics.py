"""Each recorded setting changes the image through its physics, checked by measurement."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import quiet_scene, settings

from cimp.instrument.detector import UINT16_MAX, black_level, noise_floor
from cimp.simulator import acquire
from cimp.simulator.image import scattered_fraction
from cimp.simulator.probe import Probe
from cimp.simulator.render import FLYBACK_WAIT_US


def _noise(scene, s, rng):
    """Mean signal above black level and shot-noise variance (from two exposures)."""
    a = acquire(scene, s, rng).image.astype(np.float64)
    b = acquire(scene, s, rng).image.astype(np.float64)
    variance = ((a - b) ** 2).mean() / 2 - noise_floor(s.detector_gain, s.dwell_time) ** 2
    return (a + b).mean() / 2 - black_level(s.detector_offset), variance


def test_signal_and_shot_noise_variance_follow_dose(rng):
    scene = quiet_scene(None, support_nm=15.0)  # amorphous carbon: a nearly flat signal
    low = settings(dwell_time=5.0, beam_current=200.0, detector_gain=24.0)
    mean_1, var_1 = _noise(scene, low, rng)
    mean_4, var_4 = _noise(scene, replace(low, dwell_time=20.0), rng)
    assert mean_4 / mean_1 == pytest.approx(4.0, rel=0.05)
    # Poisson counting with fixed gain: variance grows as the dose, so SNR^2 grows 4x too
    assert var_4 / var_1 == pytest.approx(4.0, rel=0.1)
    assert (mean_4**2 / var_4) / (mean_1**2 / var_1) == pytest.approx(4.0, rel=0.12)


def _lattice_period_px(image: np.ndarray, pad: int = 16) -> float:
    """Period (pixels) of the strongest Fourier peak along the x axis (zero-padded FFT)."""
    n = image.shape[1] * pad
    window = np.hanning(image.shape[1])
    spectrum = np.abs(np.fft.rfft((image - image.mean()) * window, n=n, axis=1)).mean(axis=0)
    k = int(np.argmax(spectrum[4 * pad :])) + 4 * pad
    a, b, c = spectrum[k - 1 : k + 2]
    return n / (k + 0.5 * (a - c) / (a - 2 * b + c))


def test_lattice_period_in_pixels_follows_pixel_size(rng):
    scene = quiet_scene("Au [001]")  # square lattice, 0.408 nm, aligned with the scan
    fine = settings(pixel_size=0.0102, size=256, beam_current=100.0)
    coarse = replace(fine, pixel_size=0.0204)
    p_fine = _lattice_period_px(acquire(scene, fine, rng).image)
    p_coarse = _lattice_period_px(acquire(scene, coarse, rng).image)
    # Au [001] projects to a square of columns 0.204 nm apart
    assert p_fine == pytest.approx(0.204 / 0.0102, rel=0.03)
    assert p_fine / p_coarse == pytest.approx(2.0, rel=0.03)


def test_detector_clips_at_both_ends_only_at_extreme_settings(rng):
    scene = quiet_scene("Au [001]", support_nm=5.0)
    mid = settings()
    image = acquire(scene, mid, rng).image
    assert (image == UINT16_MAX).mean() < 1e-3 and (image == 0).mean() < 1e-3
    bright = acquire(scene, replace(mid, detector_gain=80.0), rng).image
    assert (bright == UINT16_MAX).mean() > 0.2
    dark = acquire(scene, replace(mid, detector_offset=-4.5, detector_gain=10.0), rng).image
    assert (dark == 0).mean() > 0.2


def test_probe_shrinks_with_convergence_and_grows_with_current():
    widths = [Probe(alpha, 1.0).fwhm() for alpha in (10.0, 20.0, 30.0)]
    assert widths[0] > 1.6 * widths[1] > 1.6 * 1.2 * widths[2]  # about lambda / alpha
    assert Probe(10.0, 1.0).fwhm() == pytest.approx(0.51 * 1.97e-3 / 10e-3, rel=0.1)
    # brightness: a larger current needs a larger source image
    assert Probe(15.0, 200.0).fwhm() > 1.5 * Probe(15.0, 1.0).fwhm()


def _lattice_contrast(scene, s) -> float:
    f = scattered_fraction(scene, s)
    return float(f.std() / f.mean())


def test_larger_convergence_angle_resolves_the_lattice_better():
    scene = quiet_scene("Si [110]")  # dumbbells 0.136 nm apart: needs a fine probe
    s = settings(pixel_size=0.01, beam_current=5.0)
    low, high = (_lattice_contrast(scene, replace(s, convergence_angle=a)) for a in (10, 30))
    assert high > 1.5 * low


def test_beam_current_blurs_the_lattice_through_source_size():
    scene = quiet_scene("Si [110]")
    s = settings(pixel_size=0.01, convergence_angle=15.0)
    small, large = (_lattice_contrast(scene, replace(s, beam_current=i)) for i in (1, 200))
    assert small > 1.3 * large


def test_inner_angle_lowers_signal_and_raises_z_contrast():
    s = settings(convergence_angle=20.0)
    gold, silicon = quiet_scene("Au [001]", 10.0), quiet_scene("Si [001]", 10.0)

    def signal(scene, beta):
        return scattered_fraction(scene, replace(s, inner_collection_angle=beta)).mean()

    assert signal(silicon, 40.0) > 3 * signal(silicon, 110.0)
    ratio_low = signal(gold, 40.0) / signal(silicon, 40.0)
    ratio_high = signal(gold, 110.0) / signal(silicon, 110.0)
    assert ratio_high > 1.3 * ratio_low  # Z^n with n rising from ~1.6 towards 2


def test_convergence_beyond_inner_angle_puts_direct_beam_on_detector():
    vacuum = quiet_scene(None)
    assert scattered_fraction(vacuum, settings(convergence_angle=20.0)).max() == 0.0
    s = settings(convergence_angle=35.0, inner_collection_angle=30.0)
    leak = scattered_fraction(vacuum, s).mean()
    assert leak == pytest.approx(1 - (30 / 35) ** 2, rel=1e-3)


def _fast_axis_correlation(scene, s, rng) -> float:
    a = acquire(scene, s, rng).image.astype(np.float64)
    b = acquire(scene, s, rng).image.astype(np.float64)
    d = a - b  # pure noise
    return float(np.mean(d[:, 1:] * d[:, :-1]) / np.mean(d * d))


def test_short_dwell_streaks_noise_along_the_fast_scan_axis(rng):
    scene = quiet_scene(None, support_nm=15.0)
    fast = settings(dwell_time=0.2, beam_current=200.0, detector_gain=30.0)
    slow = replace(fast, dwell_time=20.0, beam_current=2.0)  # same dose
    assert _fast_axis_correlation(scene, fast, rng) > 0.5
    assert abs(_fast_axis_correlation(scene, slow, rng)) < 0.05


def test_drift_distorts_long_frames_more_than_short_ones(rng):
    scene = replace(quiet_scene("Au [001]"), drift=(0.0, 0.05))  # 0.05 nm/s along y
    fast = settings(pixel_size=0.0102, size=256, dwell_time=0.5, beam_current=100.0)
    slow = replace(fast, dwell_time=40.0, beam_current=1.25)
    period_fast = _lattice_period_px(acquire(scene, fast, rng).image.T)
    period_slow = _lattice_period_px(acquire(scene, slow, rng).image.T)
    assert period_fast == pytest.approx(20.0, rel=0.01)
    # each line starts 0.05 nm/s * 10.26 ms further on: the lattice looks compressed along y
    line_time = (256 * 40.0 + FLYBACK_WAIT_US) * 1e-6
    expected = 0.0102 / (0.0102 + 0.05 * line_time)
    assert period_slow / period_fast == pytest.approx(expected, rel=0.01)
