"""The simulator's draws: reproducible, spanning the schema's ranges, varied scenes."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import quiet_scene, settings
from scipy import stats

from cimp import schema
from cimp.simulator import sample_settings, simulate, simulate_pair
from cimp.simulator.crystals import STRUCTURES, library
from cimp.simulator.image import scattered_fraction
from cimp.simulator.render import scan_grid
from cimp.simulator.scene import sample_scene


def test_same_seed_and_index_give_the_same_image():
    a, b = simulate(7, 3, size=64), simulate(7, 3, size=64)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.settings == b.settings
    assert not np.array_equal(a.image, simulate(8, 3, size=64).image)
    assert not np.array_equal(a.image, simulate(7, 4, size=64).image)


def test_dose_pairs_share_scene_and_settings_but_not_dose():
    low, high = simulate_pair(0, 11, size=64)
    assert low.scene == high.scene
    assert high.settings.dose >= 4 * low.settings.dose
    for name in (
        "pixel_size",
        "convergence_angle",
        "detector_gain",
        "detector_offset",
        "inner_collection_angle",
        "defocus",
    ):
        assert getattr(low.settings, name) == getattr(high.settings, name)
    assert low.expected is not None and low.expected.shape == low.image.shape


def test_settings_are_log_uniform_on_log_fields_and_uniform_elsewhere():
    rng = np.random.default_rng(0)
    draws = [sample_settings(rng) for _ in range(3000)]
    for name in (
        "pixel_size",
        "dwell_time",
        "beam_current",
        "convergence_angle",
        "inner_collection_angle",
        "detector_offset",
    ):
        f = schema.field(name)
        values = np.array([getattr(d, name) for d in draws])
        lo, hi = f.typical
        assert values.min() >= lo and values.max() <= hi
        if f.log:
            values, lo, hi = np.log10(values), np.log10(lo), np.log10(hi)
        p = stats.kstest((values - lo) / (hi - lo), "uniform").pvalue
        assert p > 0.001, name
    gains = np.array([d.detector_gain for d in draws])
    lo, hi = schema.field("detector_gain").typical
    assert gains.min() == lo and gains.max() == hi  # the operator's choice reaches both ends
    assert np.std(gains) > 10.0


def test_crystal_library_spans_structures_and_zone_axes():
    crystals = library()
    names = {c.name for c in crystals}
    assert len(names) >= 6
    assert sum(len(zones) >= 2 for _, zones in STRUCTURES.values()) >= 6
    # projecting keeps every atom: column density per area equals the bulk density
    for c in crystals:
        build, _ = STRUCTURES[c.name]
        atoms = build()
        bulk_density = len(atoms) / (atoms.get_volume() / 1000.0)
        assert c.mean_density() == pytest.approx(bulk_density, rel=1e-6), c.label


def test_au_110_columns_sit_where_fcc_puts_them():
    au = next(c for c in library() if c.label == "Au [110]")
    lengths = sorted(np.linalg.norm(au.cell, axis=1))
    assert lengths == pytest.approx([0.4078 / np.sqrt(2), 0.4078], rel=1e-4)
    assert len(au.frac) == 2  # a centred rectangle: corner and centre columns


def test_scenes_vary_in_what_no_field_records():
    rng = np.random.default_rng(1)
    scenes = [sample_scene(rng, fov=50.0) for _ in range(400)]
    kinds = {s.kind for s in scenes}
    assert kinds == {"crystal", "edge", "particles"}
    crystals = {s.matrix.crystal for s in scenes if s.matrix is not None}
    assert len(crystals) == len(library())
    thickness = [s.matrix.thickness for s in scenes if s.matrix is not None]
    assert min(thickness) < 5 and max(thickness) > 60
    assert np.mean([s.support_nm > 0 for s in scenes]) == pytest.approx(0.65, abs=0.1)
    assert any(len(s.particles) >= 3 for s in scenes)


def test_dose_pairs_change_current_or_dwell_and_current_pairs_scan_alike():
    kinds = []
    for index in range(12):
        low, high = simulate_pair(3, index, size=48, expected=True)
        changed = [
            n
            for n in ("dwell_time", "beam_current")
            if getattr(low.settings, n) != getattr(high.settings, n)
        ]
        assert len(changed) == 1
        kinds.append(changed[0])
        if changed == ["beam_current"]:  # same scan timing: the same drift and jitter
            grid_low = scan_grid(low.settings, low.scene, np.random.default_rng(low.scene.seed))
            grid_high = scan_grid(high.settings, high.scene, np.random.default_rng(high.scene.seed))
            assert np.array_equal(grid_low.X, grid_high.X) and np.array_equal(
                grid_low.Y, grid_high.Y
            )
    assert set(kinds) == {"dwell_time", "beam_current"}


def test_dose_pair_members_share_the_amorphous_texture_whatever_the_probe():
    """Defects are drawn even when the probe is too coarse to show them, so the scene's own
    random detail that follows (here the carbon texture) is the same for both doses."""
    scene = replace(quiet_scene("Au [001]", thickness=1e-3, support_nm=10.0), defect_density=1.0)
    s = settings(pixel_size=0.2, convergence_angle=25.0)
    fine = scattered_fraction(scene, replace(s, beam_current=1.0))  # defects not rendered
    coarse = scattered_fraction(scene, replace(s, beam_current=200.0))  # defects rendered
    assert np.corrcoef(fine.ravel(), coarse.ravel())[0, 1] > 0.8
