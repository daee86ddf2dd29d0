"""Image formation: scene + settings -> the expected scattered fraction at each scan position.

Crystals are rendered exactly as Fourier series of their projected lattice, point-sampled at
the (distorted) scan positions, so aliasing at large pixel sizes comes out right. Scan
distortions that depend on the line (drift, mains jitter, line jitter) or on the position in
the line (flyback lag) keep the series separable: one small complex matrix product per grain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from cimp.simulator.crystals import ProjectedCrystal
from cimp.simulator.probe import Probe
from cimp.simulator.scene import Grain, Scene
from cimp.simulator.settings import Settings

THERMAL_SIGMA_NM = 0.01  # thermal smear of an atomic column
CROSS_SECTION_AU_NM2 = 1.2e-4  # HAADF cross-section of one Au atom at 70 mrad, 300 kV
REFERENCE_ANGLE_MRAD = 70.0
CARBON_DENSITY = 100.0  # atoms per nm^3 of amorphous carbon
MEAN_FREE_PATH_NM = 150.0  # for losing the unscattered beam
FLYBACK_WAIT_US = 20.0


def z_exponent(inner_angle_mrad: float) -> float:
    """Z-contrast exponent: about 1.6 at low inner angle to 2 at high inner angle."""
    return 1.6 + 0.4 * float(np.clip((inner_angle_mrad - 30.0) / 90.0, 0.0, 1.0))


def cross_section_scale(inner_angle_mrad: float, exponent: float) -> float:
    """nm^2 per unit of Z**exponent: the fraction above the inner angle falls as 1/angle^2."""
    return CROSS_SECTION_AU_NM2 * (REFERENCE_ANGLE_MRAD / inner_angle_mrad) ** 2 / 79.0**exponent


@dataclass(frozen=True)
class ScanGrid:
    """Scan positions (nm, specimen frame) of pixel (i, j): x = X[j] + ox[i], y = Y[i]."""

    X: np.ndarray
    ox: np.ndarray
    Y: np.ndarray
    rotation: float  # rad, scan rotation: specimen coords = R(rotation) @ (x, y)

    def fourier_sum(self, k: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """Re sum_m coef[m] exp(2 pi i k[m] . s) at every pixel; k (M, 2) in the specimen frame.

        Every scan distortion here depends on the line or on the position in the line only,
        so the sum factorises into one (N, M) @ (M, N) complex product.
        """
        k_scan = k @ rotation(self.rotation)  # k . (R r) = (R^T k) . r
        kx, ky = k_scan[:, 0], k_scan[:, 1]
        cols = _cis(np.outer(self.X, kx))
        rows = _cis(np.outer(self.ox, kx) + np.outer(self.Y, ky)) * coef.astype(np.complex64)
        return (rows @ cols.T).real

    def window(self, rows: slice, cols: slice) -> ScanGrid:
        """The scan positions of a rectangle of pixels."""
        return ScanGrid(self.X[cols], self.ox[rows], self.Y[rows], self.rotation)

    def project(self, direction: tuple[float, float]) -> np.ndarray:
        """direction . s at every pixel (s the specimen position)."""
        a, b = rotation(self.rotation).T @ np.asarray(direction)
        return (a * self.X[None, :] + (a * self.ox + b * self.Y)[:, None]).astype(np.float32)

    def box(self, centre: tuple[float, float], radius: float) -> tuple[slice, slice]:
        """Pixels whose positions may lie within `radius` of the specimen point `centre`."""
        x, y = rotation(-self.rotation) @ np.asarray(centre)
        rows = np.flatnonzero(np.abs(self.Y - y) <= radius)
        shift = np.abs(self.ox).max()
        cols = np.flatnonzero(np.abs(self.X - x) <= radius + shift)
        if rows.size == 0 or cols.size == 0:
            return slice(0, 0), slice(0, 0)
        return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)

    def specimen_coords(self) -> tuple[np.ndarray, np.ndarray]:
        x = self.X[None, :] + self.ox[:, None]
        y = np.broadcast_to(self.Y[:, None], x.shape)
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        return c * x - s * y, s * x + c * y


def scan_grid(settings: Settings, scene: Scene, rng: np.random.Generator) -> ScanGrid:
    """Pixel positions with flyback lag, drift, 50 Hz mains jitter and per-line jitter."""
    n, p, dwell = settings.size, settings.pixel_size, settings.dwell_time
    j = np.arange(n)
    vx, vy = scene.drift
    X = (j - n / 2) * p + vx * j * dwell * 1e-6
    X -= scene.flyback_fraction * settings.fov * np.exp(-j * dwell / scene.flyback_us)
    t = np.arange(n) * (n * dwell + FLYBACK_WAIT_US) * 1e-6 + n * dwell * 0.5e-6  # line middle, s
    mains = scene.mains_nm * np.sin(2 * np.pi * 50.0 * t + scene.mains_phase)
    jitter = rng.normal(0.0, scene.line_jitter_nm, size=(2, n))
    ox = vx * t + mains * np.cos(scene.mains_direction) + jitter[0]
    Y = (j - n / 2) * p + vy * t + mains * np.sin(scene.mains_direction) + jitter[1]
    return ScanGrid(X, ox, Y, np.deg2rad(settings.scan_rotation))


def _cis(cycles: np.ndarray) -> np.ndarray:
    """exp(2 pi i * cycles) in complex64; the phase is reduced mod 1 in float64 first."""
    phase = (2 * np.pi * np.mod(cycles, 1.0)).astype(np.float32)
    out = np.empty(phase.shape, dtype=np.complex64)
    np.cos(phase, out=out.real)
    np.sin(phase, out=out.imag)
    return out


def rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def lattice_image(
    crystal: ProjectedCrystal,
    grain: Grain,
    probe: Probe,
    grid: ScanGrid,
    *,
    exponent: float,
    rel_cutoff: float = 1e-3,
) -> np.ndarray:
    """Scattered fraction per nm of thickness of a perfect crystal, probe-blurred, point-sampled."""
    recip = np.linalg.inv(crystal.cell).T  # rows b1, b2 (1/nm)
    qmax = 2.0 * probe.aperture_radius
    hmax = [int(np.ceil(qmax / np.linalg.norm(b) * 1.5)) + 1 for b in recip]
    h, k = np.meshgrid(np.arange(0, hmax[0] + 1), np.arange(-hmax[1], hmax[1] + 1), indexing="ij")
    keep = (h > 0) | ((h == 0) & (k >= 0))  # one of each Friedel pair, and g = 0
    hk = np.stack([h[keep], k[keep]], axis=1)
    g = hk @ recip
    q = np.linalg.norm(g, axis=1)
    inside = q < qmax
    hk, g, q = hk[inside], g[inside], q[inside]

    weights = crystal.column_weights(exponent)
    structure = np.exp(-2j * np.pi * hk @ crystal.frac.T) @ weights / crystal.area
    tilt_dir = np.array([np.cos(grain.tilt_direction), np.sin(grain.tilt_direction)])
    smear = grain.thickness * grain.tilt_mrad * 1e-3
    damping = np.exp(-2 * np.pi**2 * THERMAL_SIGMA_NM**2 * q**2) * np.sinc(g @ tilt_dir * smear)
    coef = structure * damping * probe.otf(q, grain.thickness)
    big = np.abs(coef) > rel_cutoff * np.abs(coef[0])
    coef, g = coef[big], g[big]

    g_specimen = g @ rotation(grain.azimuth).T
    coef = coef * np.exp(-2j * np.pi * g_specimen @ np.asarray(grain.origin))
    coef[0] *= 0.5  # g = 0 is its own Friedel partner; every other g stands for g and -g
    return np.maximum(2.0 * grid.fourier_sum(g_specimen, coef), 0.0)


def gaussian_field(rng: np.random.Generator, n: int, pixel: float, corr_nm: float) -> np.ndarray:
    """Unit-variance random field with Gaussian correlation length corr_nm, point-sampled.

    The spectrum is folded at the sampling rate, so coarse pixels see white noise (aliasing).
    """
    freq = np.fft.fftfreq(n, d=pixel)
    width = 1.0 / (2 * np.pi * corr_nm)
    m = np.arange(-int(np.ceil(5 * width * pixel)) - 1, int(np.ceil(5 * width * pixel)) + 2)
    folded = np.exp(-0.5 * ((freq[:, None] + m[None, :] / pixel) / width) ** 2).sum(axis=1)
    amplitude = np.sqrt(np.outer(folded, folded))
    amplitude = amplitude[:, : n // 2 + 1].astype(np.float32)
    white = rng.standard_normal((2, n, n // 2 + 1), dtype=np.float32)
    field = scipy.fft.irfft2((white[0] + 1j * white[1]) * amplitude, s=(n, n))
    return field / max(field.std(), 1e-12)


def probe_sigma(probe: Probe) -> float:
    """Gaussian equivalent of the probe (nm): Airy core and source image in quadrature."""
    return float(
        np.hypot(0.22 * probe.wavelength / (probe.convergence_mrad * 1e-3), probe.source_sigma)
    )
