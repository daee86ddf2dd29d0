"""Archive sampling: images come in sessions, picked from an instrument's menus, at doses an
operator keeps, as a lab's drive holds them (`uniform` sampling draws every setting alone).

A session (`profile.session_images` consecutive indices) is one specimen region under one
set-up: beam energy, convergence aperture, camera length (so inner angle), probe current,
a magnification and the black level auto-contrast chose. Within it each image steps the
magnification by up to two steps, may pick another dwell time, and gets the gain
auto-contrast sets for its dose (the same dose, the same gain): images of one session often
share all seven core settings, as a real archive's do. An image the operator would not keep
(its specimen's contrast under `profile.acceptable_snr` times its shot noise, judged on the
rendered scene) is re-taken with a longer dwell time, then a larger current. A minority of
images are mistakes, named in `Draw.mistake`: too low a dose, a saturating gain, or an
offset that clips the dark end. The detector is the profile's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cimp.instrument.detector import Detector, offset_for_black
from cimp.instrument.profile import Profile
from cimp.simulator.image import scattered_fraction
from cimp.simulator.scene import Scene, sample_scene
from cimp.simulator.settings import (
    DETECTOR_INNER_RADIUS_MM,
    ELECTRONS_PER_PA_US,
    Settings,
    operator_gain,
)

SESSION_STREAM, SCENE_STREAM = 1, 2  # rng streams apart from the images' own ([seed, index])
SATURATING_GAIN = 15.0  # gain units above what auto-contrast sets (a factor ~10 in counts)
MIS_SET_BLACK = -2000.0  # counts: an offset this low clips the dark end


@dataclass(frozen=True)
class Draw:
    """One image of an archive: its settings, its session's scene, and any mistake."""

    settings: Settings
    scene: Scene
    session: int
    mistake: str  # "" or "low_dose", "saturated", "offset"
    fraction: np.ndarray  # the scattered fraction these settings render (for `acquire`)


def draw(seed: int, index: int, size: int, profile: Profile) -> tuple[Draw, np.random.Generator]:
    """Image `index` of archive `seed`, and the image's own rng (for the detector's noise)."""
    session = index // profile.session_images
    setup = np.random.default_rng([seed, SESSION_STREAM, session])
    rng = np.random.default_rng([seed, index])
    steps = profile.pixel_sizes
    base = int(setup.integers(len(steps)))
    camera_length = float(setup.choice(profile.camera_lengths_mm))
    current = float(setup.choice(profile.beam_currents_pa))
    dwell = float(setup.choice(profile.dwell_times_us))
    if rng.random() < 0.3:
        dwell = float(rng.choice(profile.dwell_times_us))
    mistake = _mistake(rng, profile)
    if mistake == "low_dose":
        dwell, current = profile.dwell_times_us[0], profile.beam_currents_pa[0] / 4
    black = float(setup.uniform(*profile.auto_black_counts))
    black = MIS_SET_BLACK if mistake == "offset" else black
    offset = offset_for_black(black, profile.detector)
    step = int(np.clip(base + rng.integers(-2, 3), 0, len(steps) - 1))
    settings = Settings(
        pixel_size=float(steps[step]),
        dwell_time=dwell,
        convergence_angle=float(setup.choice(profile.convergence_apertures_mrad)),
        beam_current=current,
        detector_gain=0.0,  # set by auto-contrast once the dose is kept
        detector_offset=float(offset),
        inner_collection_angle=DETECTOR_INNER_RADIUS_MM / camera_length * 1e3,
        size=size,
        beam_energy=float(setup.choice(profile.beam_energies_kv)),
        scan_rotation=float(setup.uniform(-180.0, 180.0)),
        stage_alpha=float(setup.normal(0.0, 8.0)),
        stage_beta=float(setup.normal(0.0, 4.0)),
        defocus=float(rng.uniform(-3.0, 3.0)),
    )
    scene_rng = np.random.default_rng([seed, SCENE_STREAM, session])
    scene = sample_scene(scene_rng, float(steps[base]) * size)
    settings, fraction = _kept(scene, settings, mistake, profile)
    habit = np.random.default_rng([seed, SESSION_STREAM, session, 1])  # one hand per session
    gain = operator_gain(habit, settings.dose, profile.gain_spread, profile.detector)
    gain += SATURATING_GAIN if mistake == "saturated" else 0.0
    settings = replace(settings, detector_gain=gain)
    return Draw(settings, scene, session, mistake, fraction), rng


def _mistake(rng: np.random.Generator, profile: Profile) -> str:
    shares = profile.mistakes
    if rng.random() >= shares["share"]:
        return ""
    kinds = ["low_dose", "saturated", "offset"]
    p = np.array([shares[k] for k in kinds], dtype=float)
    return str(rng.choice(kinds, p=p / p.sum()))


def _kept(scene: Scene, settings: Settings, mistake: str, profile: Profile):
    """The settings an operator keeps and the scattered fraction they render: the dwell time
    (then the current) raised along the menus until the specimen's contrast, judged on the
    first image, reaches `acceptable_snr` times the noise: shot noise (with the pulse-height
    excess) and the PMT's dark noise, both in electrons. A larger current also widens the
    probe, so a few fall a little short."""
    fraction = scattered_fraction(scene, settings)
    if mistake == "low_dose":
        return settings, fraction
    need = _dose_needed(fraction, profile.acceptable_snr, profile.detector)
    dwell, current = settings.dwell_time, settings.beam_current
    if dwell * current * ELECTRONS_PER_PA_US >= need:
        return settings, fraction
    for d in sorted(profile.dwell_times_us):
        dwell = max(dwell, d)
        if dwell * current * ELECTRONS_PER_PA_US >= need:
            break
    for c in sorted(profile.beam_currents_pa):
        if dwell * current * ELECTRONS_PER_PA_US >= need:
            break
        current = max(current, c)
    kept = replace(settings, dwell_time=float(dwell), beam_current=float(current))
    return kept, scattered_fraction(scene, kept)


def _dose_needed(fraction: np.ndarray, snr: float, det: Detector) -> float:
    """The dose D whose contrast D std(f) reaches snr times the noise: the root of
    D^2 var(f) = snr^2 (D mean(f) (1 + 1/k) + dark^2)."""
    a = max(float(fraction.var()), 1e-12)
    b = snr**2 * float(fraction.mean()) * (1.0 + 1.0 / det.pulse_shape)
    c = snr**2 * det.dark_noise**2
    return (b + np.sqrt(b * b + 4.0 * a * c)) / (2.0 * a)
