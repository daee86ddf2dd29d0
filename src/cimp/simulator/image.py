"""One simulated HAADF-STEM acquisition: scene + settings -> detector counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimp.instrument.detector import DETECTOR, Detector, detect
from cimp.simulator.crystals import library
from cimp.simulator.probe import Probe
from cimp.simulator.render import (
    CARBON_DENSITY,
    MEAN_FREE_PATH_NM,
    THERMAL_SIGMA_NM,
    cross_section_scale,
    gaussian_field,
    lattice_image,
    probe_sigma,
    rotation,
    scan_grid,
    z_exponent,
)
from cimp.simulator.scene import Grain, Scene
from cimp.simulator.settings import Settings

CARBON_Z = 6


@dataclass(frozen=True)
class Acquisition:
    """A simulated image with what made it."""

    image: np.ndarray  # uint16 detector output
    expected: np.ndarray | None  # noise-free detector output (float32), if asked for
    settings: Settings
    scene: Scene


def scattered_fraction(scene: Scene, settings: Settings) -> np.ndarray:
    """Expected fraction of the beam reaching the detector at each pixel (before counting)."""
    rng = np.random.default_rng(scene.seed)  # the scene's own detail, shared by dose pairs
    grid = scan_grid(settings, scene, rng)
    probe = Probe(
        settings.convergence_angle, settings.beam_current, settings.beam_energy, settings.defocus
    )
    n_exp = z_exponent(settings.inner_collection_angle)
    shape = (settings.size, settings.size)

    # crystal thickness (nm) at each pixel, and the scattering per unit cross-section it gives
    scatter = np.zeros(shape, dtype=np.float32)
    thickness = np.zeros(shape, dtype=np.float32)
    if scene.matrix is not None:
        roughness = scene.roughness.on(grid)
        t = scene.matrix.thickness * np.maximum(1.0 + roughness, 0.0)
        if scene.edge is not None:
            nx, ny, d = scene.edge
            beyond = grid.project((nx, ny)) - d + 5.0 * roughness  # 5 nm of edge roughness
            t = np.minimum(t, np.maximum(scene.edge_slope * beyond, 0.0))
        full = np.s_[:, :]
        _paint(
            scatter, thickness, t, full, grain=scene.matrix, probe=probe, grid=grid, exponent=n_exp
        )
        scatter += _defects(
            rng, scene, settings, grid, thickness=thickness, exponent=n_exp, probe=probe
        )
    for particle in scene.particles:
        win = grid.box(particle.centre, particle.radius)
        sx, sy = grid.window(*win).specimen_coords()
        r2 = ((sx - particle.centre[0]) ** 2 + (sy - particle.centre[1]) ** 2) / particle.radius**2
        t = particle.thickness * np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
        _paint(scatter, thickness, t, win, grain=particle, probe=probe, grid=grid, exponent=n_exp)
    scale = cross_section_scale(settings.inner_collection_angle, n_exp)
    scatter = np.maximum(scatter, 0.0) * np.float32(scale)

    # amorphous carbon support and contamination
    carbon = np.maximum(scene.support_nm + scene.contamination.on(grid), 0.0)
    if carbon.max() > 0:
        corr = float(np.hypot(scene.texture_nm, probe_sigma(probe)))
        atoms = np.float32(CARBON_DENSITY) * carbon
        rel = np.minimum(1.0 / np.sqrt(atoms * np.float32(2 * np.pi * corr**2) + 1e-6), 1.0)
        texture = 1.0 + rel * gaussian_field(rng, settings.size, settings.pixel_size, corr)
        scatter += atoms * np.maximum(texture, 0.0) * np.float32(CARBON_Z**n_exp * scale)
        thickness += carbon

    fraction = 1.0 - np.exp(-scatter)
    # a convergence angle larger than the inner angle puts part of the direct beam on the detector
    leak = 1.0 - (settings.inner_collection_angle / settings.convergence_angle) ** 2
    if leak > 0:
        fraction += leak * np.exp(-thickness / MEAN_FREE_PATH_NM - 3.0 * scatter)
    return fraction


def _paint(scatter, thickness, t, win, *, grain: Grain, probe: Probe, grid, exponent) -> None:
    """Add a grain of thickness `t` over the window `win`, rendering only where t > 0."""
    rows, cols = np.flatnonzero(t.any(axis=1)), np.flatnonzero(t.any(axis=0))
    if rows.size == 0:
        return
    r0, c0 = win[0].start or 0, win[1].start or 0
    t = t[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    win = np.s_[r0 + rows[0] : r0 + rows[-1] + 1, c0 + cols[0] : c0 + cols[-1] + 1]
    pattern = lattice_image(
        library()[grain.crystal], grain, probe, grid.window(*win), exponent=exponent
    )
    scatter[win] += t * pattern
    thickness[win] += t


def _defects(rng, scene, settings, grid, *, thickness, exponent, probe) -> np.ndarray:
    """Vacancies and substitutions: single columns brighter or dimmer than their neighbours."""
    grain = scene.matrix
    crystal = library()[grain.crystal]
    # drawn whatever the probe, so that both images of a dose pair share what follows
    count = min(rng.poisson(scene.defect_density * settings.fov**2), 12)
    spots = rng.uniform(-settings.fov / 2, settings.fov / 2, size=(count, 2))
    columns = rng.integers(len(crystal.frac), size=count)
    strength = rng.uniform(-0.8, 0.6, size=count) * crystal.column_weights(exponent)[columns]
    out = np.zeros(thickness.shape)
    sigma = float(np.hypot(probe_sigma(probe), THERMAL_SIGMA_NM))
    p = settings.pixel_size
    if sigma < 0.15 * p:  # point sampling would miss them
        return out
    to_crystal = rotation(-grain.azimuth)
    to_scan = rotation(-grid.rotation)
    origin = np.asarray(grain.origin)
    cells = np.floor(((spots - origin) @ to_crystal.T) @ np.linalg.inv(crystal.cell))
    sx, sy = grid.specimen_coords()
    radius = int(np.ceil(4 * sigma / p)) + 1
    for cell, c, s in zip(cells, columns, strength, strict=True):
        pos = ((cell + crystal.frac[c]) @ crystal.cell) @ to_crystal + origin
        x, y = to_scan @ pos
        i0 = int(np.argmin(np.abs(grid.Y - y)))
        j0 = int(np.argmin(np.abs(grid.X + grid.ox[i0] - x)))
        win = np.s_[max(i0 - radius, 0) : i0 + radius + 1, max(j0 - radius, 0) : j0 + radius + 1]
        d2 = (sx[win] - pos[0]) ** 2 + (sy[win] - pos[1]) ** 2
        peak = np.exp(-d2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)
        out[win] += s * thickness[win] * peak
    return out


def acquire(
    scene: Scene,
    settings: Settings,
    rng: np.random.Generator,
    expected: bool = False,
    *,
    fraction: np.ndarray | None = None,
    det: Detector = DETECTOR,
) -> Acquisition:
    """Simulate the output of detector `det` for `scene` imaged with `settings` (`fraction`:
    its scattered fraction, when already rendered for these very settings)."""
    if fraction is None:
        fraction = scattered_fraction(scene, settings)
    electrons = settings.dose * fraction
    s = settings
    image = detect(electrons, s.dwell_time, s.detector_gain, s.detector_offset, rng=rng, det=det)
    clean = None
    if expected:
        clean = detect(
            electrons, s.dwell_time, s.detector_gain, s.detector_offset, rng=None, det=det
        ).astype(np.float32)
    return Acquisition(image, clean, settings, scene)
