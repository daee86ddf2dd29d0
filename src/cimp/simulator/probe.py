"""The STEM probe: aberrated aperture, finite source, and its optical transfer function."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import scipy.fft
from scipy.special import j0

H_C = 1.23984198  # h*c in keV*nm
M_E_C2 = 510.99895  # electron rest energy in keV


def wavelength_nm(energy_kv: float) -> float:
    """Relativistic electron wavelength (300 kV -> 1.97 pm)."""
    e = energy_kv
    return H_C / np.sqrt(e * (2.0 * M_E_C2 + e))


@cache
def _pupil_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Squared reciprocal radius, in units of the aperture radius, inside the aperture."""
    k = np.fft.fftfreq(n, 1.0 / n) / (n / 8)  # the aperture radius spans n/8 pixels
    rho2 = k[:, None] ** 2 + k[None, :] ** 2
    inside = rho2 <= 1.0
    return rho2[inside], inside


@dataclass(frozen=True)
class Probe:
    """Probe-forming optics: semi-angle (mrad), current (pA), aberrations, source size."""

    convergence_mrad: float
    current_pa: float
    energy_kv: float = 300.0
    defocus_nm: float = 0.0
    cs_nm: float = 1.0e3  # 1 um spherical aberration: an aberration-corrected instrument
    source_coeff_nm: float = 0.06  # source sigma = coeff * sqrt(current[pA]) / alpha[mrad]

    @property
    def wavelength(self) -> float:
        return wavelength_nm(self.energy_kv)

    @property
    def aperture_radius(self) -> float:
        """Radius of the aperture in reciprocal space (1/nm); the OTF vanishes beyond twice it."""
        return self.convergence_mrad * 1e-3 / self.wavelength

    @property
    def source_sigma(self) -> float:
        """Gaussian source image size (nm); grows as sqrt(current)/alpha (brightness)."""
        return self.source_coeff_nm * np.sqrt(self.current_pa) / self.convergence_mrad

    def _grid_step(self, n: int) -> float:
        """Reciprocal pixel (1/nm) so that the OTF (twice the aperture) spans half the grid."""
        return 4.0 * self.aperture_radius / (n / 2)

    def coherent_intensity(self, defocus_nm: float, n: int = 64):
        """Probe intensity on an n x n grid, normalised to sum 1; returns (image, pixel nm)."""
        dk = self._grid_step(n)
        rho2, inside = _pupil_grid(n)  # (k / aperture radius)^2 inside the aperture
        k2 = rho2 * self.aperture_radius**2
        lam = self.wavelength
        chi = np.pi * lam * defocus_nm * k2 + 0.5 * np.pi * self.cs_nm * lam**3 * k2**2
        pupil = np.zeros((n, n), dtype=np.complex128)
        pupil[inside] = np.exp(-1j * chi)
        intensity = np.abs(scipy.fft.ifft2(pupil)) ** 2
        return intensity / intensity.sum(), 1.0 / (n * dk)

    def otf(self, q: np.ndarray, thickness_nm: float = 0.0, planes: int = 3) -> np.ndarray:
        """Transfer function of the probe intensity at spatial frequencies |q| (1/nm).

        Averaged over `planes` defocus values through the thickness (depth of field), and
        multiplied by the Gaussian source envelope.
        """
        q = np.asarray(q, dtype=np.float64)
        # thickness on a 10 % grid, so that grains of one image share the cached transfer
        step = round(np.log(thickness_nm) / np.log(1.1)) if thickness_nm > 0.5 else None
        k, radial = self._radial_otf(step, planes)
        coherent = np.interp(q, k, radial, right=0.0)
        return coherent * np.exp(-2.0 * np.pi**2 * self.source_sigma**2 * q**2)

    @lru_cache(maxsize=32)  # noqa: B019 - probes are small frozen values, few per image
    def _radial_otf(self, thickness_step: int | None, planes: int, n: int = 64):
        """Radial coherent-aperture OTF, averaged over defocus planes through the thickness."""
        thickness = 0.0 if thickness_step is None else 1.1**thickness_step
        radial = np.zeros(n // 2)
        for depth in np.linspace(0.0, thickness, planes if thickness > 0 else 1):
            intensity, _ = self.coherent_intensity(self.defocus_nm + depth, n=n)
            # the ky = 0 row of the 2-D transform is the 1-D transform of the projection
            radial += np.abs(scipy.fft.fft(intensity.sum(axis=0))[: n // 2])
        return np.arange(n // 2) * self._grid_step(n), radial / radial[0]

    def fwhm(self, thickness_nm: float = 0.0) -> float:
        """Full width at half maximum (nm) of the probe intensity, source size included."""
        q = np.linspace(0.0, 2.0 * self.aperture_radius, 512)
        transfer = self.otf(q, thickness_nm)
        r = np.linspace(0.0, 4.0 / self.aperture_radius + 6 * self.source_sigma, 2048)
        # radial profile by Hankel transform of the radially symmetric OTF
        dq = q[1] - q[0]
        profile = (j0(2 * np.pi * np.outer(r, q)) * (transfer * q)).sum(axis=1) * dq
        half = profile[0] / 2.0
        return float(2.0 * r[np.argmax(profile < half)])
