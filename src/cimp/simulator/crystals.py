"""Crystal structures (built with ase) projected down a zone axis into atomic columns."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.spacegroup import crystal


@dataclass(frozen=True)
class ProjectedCrystal:
    """A crystal seen down a zone axis: a 2-D periodic cell of atomic columns.

    `cell` rows are the 2-D lattice vectors (nm). Column `c` sits at fractional position
    `frac[c]` and holds `density[c, s]` atoms of atomic number `species[s]` per nm of thickness.
    """

    name: str
    zone: tuple[int, int, int]
    cell: np.ndarray
    frac: np.ndarray
    species: np.ndarray
    density: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.name} [{''.join(str(i) for i in self.zone)}]"

    @property
    def area(self) -> float:
        return float(abs(np.linalg.det(self.cell)))

    def column_weights(self, exponent: float) -> np.ndarray:
        """Sum over each column's atoms per nm of Z**exponent (incoherent Z-contrast)."""
        return self.density @ self.species.astype(np.float64) ** exponent

    def mean_density(self) -> float:
        """Atoms per nm^3."""
        return float(self.density.sum() / self.area)


def _perovskite(a: float) -> Atoms:
    basis = [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)]
    return crystal(["Sr", "Ti", "O"], basis=basis, spacegroup=221, cellpar=[a] * 3 + [90] * 3)


def _mos2() -> Atoms:
    basis = [(1 / 3, 2 / 3, 1 / 4), (1 / 3, 2 / 3, 0.621)]
    return crystal(
        ["Mo", "S"], basis=basis, spacegroup=194, cellpar=[3.16, 3.16, 12.29, 90, 90, 120]
    )


# name -> (builder, zone axes as direct-lattice indices of the built cell)
STRUCTURES: dict[str, tuple] = {
    "Si": (lambda: bulk("Si", "diamond", a=5.431, cubic=True), [(0, 0, 1), (1, 1, 0), (1, 1, 2)]),
    "GaAs": (lambda: bulk("GaAs", "zincblende", a=5.653, cubic=True), [(0, 0, 1), (1, 1, 0)]),
    "SrTiO3": (lambda: _perovskite(3.905), [(0, 0, 1), (1, 1, 0), (1, 1, 1)]),
    "Au": (lambda: bulk("Au", "fcc", a=4.078, cubic=True), [(0, 0, 1), (1, 1, 0), (1, 1, 2)]),
    "W": (lambda: bulk("W", "bcc", a=3.165, cubic=True), [(0, 0, 1), (1, 1, 1)]),
    "GaN": (lambda: bulk("GaN", "wurtzite", a=3.189, c=5.185), [(0, 0, 1), (1, 0, 0), (1, 1, 0)]),
    "CeO2": (lambda: bulk("CeO2", "fluorite", a=5.411, cubic=True), [(0, 0, 1), (1, 1, 0)]),
    "MgO": (lambda: bulk("MgO", "rocksalt", a=4.212, cubic=True), [(0, 0, 1), (1, 1, 0)]),
    "MoS2": (_mos2, [(0, 0, 1), (1, 0, 0)]),
}


def project(atoms: Atoms, zone: tuple[int, int, int], name: str = "") -> ProjectedCrystal:
    """Project a periodic crystal down the direct-lattice direction `zone` into columns."""
    lattice = np.asarray(atoms.cell) / 10.0  # Å -> nm
    axis = np.asarray(zone, dtype=np.float64) @ lattice
    repeat = float(np.linalg.norm(axis))
    n = axis / repeat
    e1 = np.cross(n, [0.0, 0.0, 1.0] if abs(n[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    plane = np.stack([e1, e2], axis=1)  # 3-D -> in-plane coordinates

    cell2d = _reduced_basis(lattice @ plane, area=abs(np.linalg.det(lattice)) / repeat)
    xy = (atoms.get_positions() / 10.0) @ plane
    frac = np.mod(xy @ np.linalg.inv(cell2d), 1.0)

    species = np.unique(atoms.numbers)
    columns: list[np.ndarray] = []
    density: list[np.ndarray] = []
    for f, z in zip(frac, atoms.numbers, strict=True):
        for c, existing in enumerate(columns):
            d = np.mod(f - existing + 0.5, 1.0) - 0.5
            if np.linalg.norm(d @ cell2d) < 1e-3:
                density[c][np.searchsorted(species, z)] += 1.0 / repeat
                break
        else:
            columns.append(f)
            row = np.zeros(len(species))
            row[np.searchsorted(species, z)] = 1.0 / repeat
            density.append(row)
    return ProjectedCrystal(name, zone, cell2d, np.array(columns), species, np.array(density))


def _reduced_basis(vectors: np.ndarray, area: float) -> np.ndarray:
    """Shortest 2-D basis of the lattice spanned by three projected 3-D lattice vectors."""
    candidates = [
        np.asarray(m) @ vectors for m in itertools.product(range(-4, 5), repeat=3) if any(m)
    ]
    candidates = sorted((v for v in candidates if np.linalg.norm(v) > 1e-6), key=np.linalg.norm)
    first = candidates[0]
    for second in candidates[1:]:
        cross = first[0] * second[1] - first[1] * second[0]
        if abs(abs(cross) - area) < 1e-6 * max(area, 1.0):
            return np.stack([first, second if cross > 0 else -second])
    raise ValueError("no 2-D basis of the projected lattice found")


@cache
def library() -> tuple[ProjectedCrystal, ...]:
    """Every structure of STRUCTURES in each of its zone axes."""
    return tuple(
        project(build(), zone, name)
        for name, (build, zones) in STRUCTURES.items()
        for zone in zones
    )
