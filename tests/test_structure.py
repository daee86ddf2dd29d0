"""The share of the U-Net's structure an image's electrons carry (`cimp.denoise.structure`)."""

import numpy as np
import pytest
import torch

from cimp.denoise import structure
from cimp.denoise.structure import GRID, StructureGain, fit, shrunk, signal_to_noise


def test_the_ratio_is_read_at_the_level_an_electron_lands_at():
    flat = torch.full((1, 1, 8, 8), 4.0)
    assert signal_to_noise(flat, 1.0, 0.0) == pytest.approx(2.0)  # Poisson: sqrt of the mean
    assert signal_to_noise(flat, 1.0, 12.0) == pytest.approx(1.0)  # read noise adds
    atoms = torch.zeros((1, 1, 8, 8))
    atoms[..., ::4, ::4] = 16.0  # a few bright atoms in vacuum: their level, not the mean's
    assert signal_to_noise(atoms, 1.0, 0.0) == pytest.approx(4.0)
    assert signal_to_noise(torch.zeros((1, 1, 8, 8)), 1.0, 0.0) == 0.0


def test_shrunk_keeps_the_mean_and_scales_the_departure_from_the_guide():
    clean = torch.tensor([[[[0.0, 2.0], [4.0, 10.0]]]])
    flat = torch.full_like(clean, 7.0)
    half = shrunk(clean, 0.5, flat)
    assert float(half.mean()) == pytest.approx(4.0)
    assert torch.allclose(half, torch.tensor([[[[2.0, 3.0], [4.0, 7.0]]]]))
    lattice = torch.tensor([[[[1.0, 3.0], [3.0, 1.0]]]])  # the guide's structure, moved
    assert torch.allclose(shrunk(clean, 0.0, lattice), torch.tensor([[[[3.0, 5.0], [5.0, 3.0]]]]))
    assert shrunk(clean, 1.0, flat) is clean
    assert float(shrunk(clean, 0.2, 10 * lattice).min()) == 0.0  # never below no electrons
    many = shrunk(clean, torch.tensor([0.0, 0.5, 1.0]).view(-1, 1, 1, 1), flat)
    assert many.shape == (3, 1, 2, 2) and torch.allclose(many[1:2], half)
    assert torch.equal(many[2:], clean)


def test_the_gain_is_interpolated_in_log_ratio_and_held_beyond_the_ends():
    gain = StructureGain((-1.0, 1.0), (0.2, 1.0))
    assert gain.of(1.0) == pytest.approx(0.6)
    assert gain.of(1e-4) == pytest.approx(0.2) and gain.of(1e4) == pytest.approx(1.0)
    assert gain.of(0.0) == pytest.approx(0.2)
    assert StructureGain.saved(gain.to_dict()) == gain
    assert StructureGain.saved(None) is None


def test_the_pooled_gains_never_fall_as_the_ratio_grows():
    assert structure._increasing([0.5, 0.2, 0.8], [1, 1, 1]) == pytest.approx([0.35, 0.35, 0.8])
    assert structure._increasing([0.6, 0.2, 0.1], [2, 1, 1]) == pytest.approx([0.375] * 3)
    assert structure._increasing([0.1, 0.5], [1, 1]) == [0.1, 0.5]


def test_the_fit_takes_the_best_gain_per_bin_of_cases(monkeypatch):
    """Faint cases score best with no structure, bright ones with all of it; a case
    saturated all over (no score) is left out."""
    monkeypatch.setattr(structure, "PER_BIN", 4)
    rng = np.random.default_rng(0)
    snr = np.concatenate([rng.uniform(0.01, 0.1, 4), rng.uniform(10, 100, 4)])
    best = np.where(snr < 1, 0.0, 1.0)
    scores = -((GRID[None, :] - best[:, None]) ** 2) + 0.01 * rng.standard_normal((8, len(GRID)))
    scores = np.vstack([scores, np.full(len(GRID), np.nan)])
    gain = fit(scores, np.append(snr, 5.0))
    assert gain.gains == (0.0, 1.0)
    assert gain.knots[0] < -1.0 < 1.0 < gain.knots[1]
    assert gain.of(0.005) == 0.0 and gain.of(200.0) == 1.0
