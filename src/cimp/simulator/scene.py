"""What is under the beam: the nuisance that no metadata field records.

A scene is defined in physical units (nm) around the frame centre, so that one scene can be
imaged at different settings (pairs for dose transfer share their scene).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimp.simulator.crystals import library


@dataclass(frozen=True)
class Grain:
    """A crystal region: a structure and zone axis, its in-plane orientation and position."""

    crystal: int  # index into crystals.library()
    azimuth: float  # rad
    origin: tuple[float, float]  # nm, lattice origin in frame coordinates
    thickness: float  # nm
    tilt_mrad: float  # off-axis tilt, elongates the projected columns
    tilt_direction: float  # rad
    centre: tuple[float, float] = (0.0, 0.0)  # particle centre (nm); unused for the matrix
    radius: float = np.inf  # particle radius (nm); inf for the matrix crystal


@dataclass(frozen=True)
class Waves:
    """A smooth random field: a sum of plane waves, wave vectors in 1/nm."""

    k: np.ndarray  # (M, 2)
    amplitude: np.ndarray  # (M,)
    phase: np.ndarray  # (M,)

    @classmethod
    def sample(cls, rng, n: int, wavelength: tuple[float, float], amplitude: float) -> Waves:
        lam = 10 ** rng.uniform(*np.log10(wavelength), size=n)
        angle = rng.uniform(0, 2 * np.pi, size=n)
        k = np.stack([np.cos(angle), np.sin(angle)], axis=1) / lam[:, None]
        amp = amplitude * rng.uniform(0.3, 1.0, size=n) / np.sqrt(n)
        return cls(k, amp, rng.uniform(0, 2 * np.pi, size=n))

    def on(self, grid) -> np.ndarray:
        """The field at every scan position of `grid` (a render.ScanGrid)."""
        return grid.fourier_sum(self.k, self.amplitude * np.exp(1j * self.phase))


@dataclass(frozen=True)
class Scene:
    """Specimen and scan nuisance of one field of view."""

    seed: int  # drives the scene's own random detail (amorphous texture, defects, line jitter)
    matrix: Grain | None  # the crystal filling the field, or None (particles on a support)
    edge: tuple[float, float, float] | None  # (nx, ny, d): crystal where nx*x + ny*y > d
    edge_slope: float  # thickness gained per nm away from the edge (a wedge)
    roughness: Waves  # relative thickness variation and edge roughness
    particles: tuple[Grain, ...]
    support_nm: float  # amorphous carbon thickness (0: none)
    texture_nm: float  # correlation length of the amorphous texture
    contamination: Waves  # extra carbon thickness (nm), smooth
    defect_density: float  # point defects per nm^2 of crystal
    drift: tuple[float, float]  # nm/s
    mains_nm: float  # 50 Hz jitter amplitude
    mains_direction: float  # rad
    mains_phase: float  # rad
    line_jitter_nm: float  # random per-line displacement
    flyback_fraction: float  # lag of the scan at line start, as a fraction of the line length
    flyback_us: float  # decay time of that lag
    kind: str = "crystal"  # crystal, edge or particles


def _grain(rng, thickness: float, centre=(0.0, 0.0), radius=np.inf) -> Grain:
    crystal = int(rng.integers(len(library())))
    return Grain(
        crystal=crystal,
        azimuth=float(rng.uniform(0, 2 * np.pi)),
        origin=(float(rng.uniform(-5, 5)), float(rng.uniform(-5, 5))),
        thickness=thickness,
        tilt_mrad=float(rng.exponential(4.0)),
        tilt_direction=float(rng.uniform(0, 2 * np.pi)),
        centre=centre,
        radius=radius,
    )


def sample_scene(rng: np.random.Generator, fov: float) -> Scene:
    """Draw a scene for a field of view of `fov` nm."""
    kind = rng.choice(["crystal", "edge", "particles"], p=[0.5, 0.25, 0.25])
    matrix = None if kind == "particles" else _grain(rng, float(10 ** rng.uniform(0.5, 1.9)))
    edge = None
    if kind == "edge":
        angle = rng.uniform(0, 2 * np.pi)
        edge = (float(np.cos(angle)), float(np.sin(angle)), float(rng.uniform(-0.4, 0.4) * fov))
    particles: tuple[Grain, ...] = ()
    if kind == "particles":
        radius = 10 ** rng.uniform(0, 1.5, size=6)
        count = min(
            6, rng.poisson(0.4 * (fov + 2 * radius.mean()) ** 2 / (np.pi * radius.mean() ** 2))
        )
        particles = tuple(
            _grain(
                rng,
                thickness=float(1.6 * r),
                centre=tuple(rng.uniform(-0.5, 0.5, size=2) * (fov + r)),
                radius=float(r),
            )
            for r in radius[: max(count, 1)]
        )
    has_support = kind != "crystal" or rng.random() < 0.3
    return Scene(
        seed=int(rng.integers(2**31)),
        matrix=matrix,
        edge=edge,
        edge_slope=float(10 ** rng.uniform(-1.0, 0.5)),
        roughness=Waves.sample(rng, 6, (0.05 * fov + 2, 3 * fov + 20), 0.15),
        particles=particles,
        support_nm=float(rng.uniform(2, 20)) if has_support else 0.0,
        texture_nm=float(rng.uniform(0.2, 0.4)),
        contamination=Waves.sample(rng, 4, (5.0, 200.0), float(rng.exponential(2.0))),
        defect_density=float(rng.exponential(0.05)),
        drift=tuple(rng.normal(0.0, 0.03, size=2)),
        mains_nm=float(rng.exponential(0.01)),
        mains_direction=float(rng.uniform(0, 2 * np.pi)),
        mains_phase=float(rng.uniform(0, 2 * np.pi)),
        line_jitter_nm=float(rng.exponential(0.003)),
        flyback_fraction=float(rng.uniform(0.005, 0.03)),
        flyback_us=float(rng.uniform(10.0, 40.0)),
        kind=str(kind),
    )


NO_WAVES = Waves(np.zeros((0, 2)), np.zeros(0), np.zeros(0))


def crystal_index(label: str) -> int:
    """Position of a crystal (e.g. 'Au [001]') in the library."""
    return next(i for i, c in enumerate(library()) if c.label == label)


def quiet_scene(
    crystal: str | None = "Au [001]",
    thickness: float = 20.0,
    support_nm: float = 0.0,
    azimuth: float = 0.0,
) -> Scene:
    """A flat, untilted crystal (or nothing) with no drift, jitter, flyback or defects."""
    matrix = None
    if crystal is not None:
        matrix = Grain(crystal_index(crystal), azimuth, (0.0, 0.0), thickness, 0.0, 0.0)
    return Scene(
        seed=1,
        matrix=matrix,
        edge=None,
        edge_slope=1.0,
        roughness=NO_WAVES,
        particles=(),
        support_nm=support_nm,
        texture_nm=0.3,
        contamination=NO_WAVES,
        defect_density=0.0,
        drift=(0.0, 0.0),
        mains_nm=0.0,
        mains_direction=0.0,
        mains_phase=0.0,
        line_jitter_nm=0.0,
        flyback_fraction=0.0,
        flyback_us=10.0,
    )
