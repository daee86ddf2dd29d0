"""Acquisition settings: the recorded metadata of one simulated image, and how to sample them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from cimp import schema
from cimp.instrument.detector import DETECTOR, Detector, gain_for_counts

ELECTRONS_PER_PA_US = 1e-18 / 1.602176634e-19  # 1 pA for 1 us, in electrons
INSTRUMENT = "cimp-sim Titan 300 kV"
DETECTOR_NAME = "HAADF"
DETECTOR_INNER_RADIUS_MM = 3.5  # physical inner radius of the annular detector
NOMINAL_FRACTION = 0.08  # scattered fraction the operator expects when setting the gain
TARGET_COUNTS = 12000.0  # mean signal above black level the operator aims for


@dataclass(frozen=True)
class Settings:
    """What the microscope records for one image, in canonical units."""

    pixel_size: float
    dwell_time: float
    convergence_angle: float
    beam_current: float
    detector_gain: float
    detector_offset: float
    inner_collection_angle: float
    size: int = 256
    beam_energy: float = 300.0
    scan_rotation: float = 0.0
    stage_alpha: float = 0.0
    stage_beta: float = 0.0
    defocus: float = 0.0

    @property
    def dose(self) -> float:
        """Electrons per pixel: beam current x dwell time / e."""
        return self.beam_current * self.dwell_time * ELECTRONS_PER_PA_US

    @property
    def fov(self) -> float:
        """Field of view (nm)."""
        return self.pixel_size * self.size

    @property
    def camera_length(self) -> float:
        """Camera length (mm) that puts the detector's inner edge at the inner angle."""
        return DETECTOR_INNER_RADIUS_MM / (self.inner_collection_angle * 1e-3)

    def metadata(self) -> dict[str, float | str]:
        """The canonical metadata a file of this image carries (core and optional fields)."""
        out: dict[str, float | str] = {k: v for k, v in asdict(self).items() if k in schema.BY_NAME}
        out.update(
            magnification=0.1e9 / self.fov,  # a 10 cm wide display
            camera_length=self.camera_length,
            outer_collection_angle=DETECTOR.outer_to_inner * self.inner_collection_angle,
            frame_width=float(self.size),
            frame_height=float(self.size),
            detector=DETECTOR_NAME,
            instrument=INSTRUMENT,
        )
        return out


def _uniform(rng: np.random.Generator, name: str) -> float:
    """A value drawn across the field's typical range, log-uniform for log fields."""
    f = schema.field(name)
    lo, hi = f.typical
    if f.log:
        return float(10 ** rng.uniform(np.log10(lo), np.log10(hi)))
    return float(rng.uniform(lo, hi))


def operator_gain(
    rng: np.random.Generator, dose: float, spread: float = 12.0, det: Detector = DETECTOR
) -> float:
    """Gain an operator would set for this dose, give or take `spread` gain units (12: 0.8
    decades of counts), within the field's typical range."""
    lo, hi = schema.field("detector_gain").typical
    ideal = gain_for_counts(TARGET_COUNTS / max(dose * NOMINAL_FRACTION, 1e-9), det)
    return float(np.clip(ideal + rng.uniform(-spread, spread), lo, hi))


def sample_settings(rng: np.random.Generator, size: int = 256) -> Settings:
    """Independent draws of every recorded setting (gain follows dose as an operator's would)."""
    pixel_size = _uniform(rng, "pixel_size")
    dwell = _uniform(rng, "dwell_time")
    current = _uniform(rng, "beam_current")
    return Settings(
        pixel_size=pixel_size,
        dwell_time=dwell,
        convergence_angle=_uniform(rng, "convergence_angle"),
        beam_current=current,
        detector_gain=operator_gain(rng, current * dwell * ELECTRONS_PER_PA_US),
        detector_offset=_uniform(rng, "detector_offset"),
        inner_collection_angle=_uniform(rng, "inner_collection_angle"),
        size=size,
        scan_rotation=float(rng.uniform(-180.0, 180.0)),
        stage_alpha=float(rng.normal(0.0, 8.0)),
        stage_beta=float(rng.normal(0.0, 4.0)),
        defocus=float(rng.uniform(-3.0, 3.0)),
    )


def sample_dose_pair(rng: np.random.Generator, size: int = 256) -> tuple[Settings, Settings]:
    """Two settings of one scene at least 4x apart in dose: by beam current alone (half of
    the pairs; the scan's timing is the same, so drift and jitter match pixel for pixel) or
    by dwell time alone (the slower scan drifts differently, as at a microscope).

    Gain and offset are shared, as when an operator re-acquires at another dose.
    """
    base = sample_settings(rng, size)
    name = "beam_current" if rng.random() < 0.5 else "dwell_time"
    while True:
        lo, hi = sorted(_uniform(rng, name) for _ in range(2))
        if hi >= 4.0 * lo:
            break
    low, high = replace(base, **{name: lo}), replace(base, **{name: hi})
    gain = operator_gain(rng, np.sqrt(low.dose * high.dose))
    return replace(low, detector_gain=gain), replace(high, detector_gain=gain)
