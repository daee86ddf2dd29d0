"""Dose-transfer examples from the digital twin, with the noise-free truth at the target.

A case is one scene imaged at the source settings (the noisy detector output, as a file
holds it) and the expected output at the target settings: more beam current (the probe
widens a little, so the truth is re-rendered) or a longer dwell time (the detector's
response smears less; the truth keeps the source's scan geometry, because another scan's
drift and jitter cannot be known from this one). Case i depends only on (seed, i), so the
training (seeds from 0) and the benchmark (777, 778) never share a scene.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from cimp import schema
from cimp.instrument.detector import detect
from cimp.instrument.profile import default as default_profile
from cimp.simulator import archive
from cimp.simulator.image import acquire, scattered_fraction
from cimp.simulator.scene import sample_scene
from cimp.simulator.settings import ELECTRONS_PER_PA_US, Settings, operator_gain, sample_settings
from cimp.workers import mapped

FIELDS = ("beam_current", "dwell_time")
RATIOS = (1.5, 16.0)  # dose ratios drawn (log-uniform) when none is asked for
DOSES = (2.0, 2000.0)  # e/px: the doses drawn (log-uniform) for a `low_dose_share` of cases
SAMPLINGS = ("archive", "uniform")


@dataclass(frozen=True)
class TwinCase:
    """A noisy source image, what is asked of it, and the truth."""

    image: np.ndarray  # uint16 detector output at the source settings
    clean: np.ndarray  # float32 expected output at the source settings
    truth: np.ndarray  # float32 expected output at the target settings
    source: dict  # the file's metadata
    target: dict
    ratio: float  # target dose / source dose
    field: str  # the setting changed

    @property
    def changes(self) -> dict[str, str]:
        """What `cimp denoise` is asked: {'beam_current': 'x4'}."""
        return {self.field: f"x{self.ratio}"}


def twin_case(
    seed: int,
    index: int,
    size: int = 128,
    sampling: str = "archive",
    *,
    dose: float | None = None,
    ratio: float | None = None,
    field: str | None = None,
    low_dose_share: float = 0.0,
) -> TwinCase:
    """Case `index` of twin `seed`: settings drawn by `sampling` (archive images that are
    mistakes are drawn again); `dose` (electrons per pixel) set by the beam current, the
    dwell time where the current would leave its range (without one, a `low_dose_share` of
    cases get a dose drawn from DOSES: an archive's own are mostly far higher); `ratio`
    and `field` drawn if None. The twin's instrument is the default profile's."""
    profile = default_profile()
    rng = np.random.default_rng([seed, index, 7])
    settings, scene = _source(seed, index, size, sampling, profile=profile, rng=rng)
    if dose is None and rng.random() < low_dose_share:
        dose = float(np.exp(rng.uniform(*np.log(DOSES))))
    if dose is not None:
        settings = _at_dose(settings, dose, rng)
    ratio = float(np.exp(rng.uniform(*np.log(RATIOS)))) if ratio is None else float(ratio)
    field = field or str(rng.choice(FIELDS))
    det = profile.detector
    fraction = scattered_fraction(scene, settings)
    acq = acquire(scene, settings, rng, expected=True, fraction=fraction, det=det)
    target = replace(settings, **{field: getattr(settings, field) * ratio})
    if field == "beam_current":
        fraction = scattered_fraction(scene, target)  # the wider probe
    s = target
    truth = detect(
        s.dose * fraction, s.dwell_time, s.detector_gain, s.detector_offset, rng=None, det=det
    )
    return TwinCase(
        acq.image,
        acq.expected,
        truth.astype(np.float32),
        settings.metadata(),
        target.metadata(),
        ratio,
        field,
    )


def twin_cases(
    seed: int,
    n: int,
    size: int = 128,
    sampling: str = "archive",
    *,
    workers: int | None = None,
    show_progress: bool = False,
    **fixed,
) -> list[TwinCase]:
    """Cases 0..n-1 of twin `seed`, in parallel processes of one thread each (`fixed`:
    dose, ratio, field)."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}: use one of {', '.join(SAMPLINGS)}")
    job = partial(twin_case, seed, size=size, sampling=sampling, **fixed)
    return list(mapped(job, n, 1 if n < 16 else workers, "twin", show_progress=show_progress))


def _source(seed, index, size, sampling, *, profile, rng):
    if sampling == "uniform":
        settings = sample_settings(rng, size)
        return settings, sample_scene(rng, settings.fov)
    for attempt in range(100):
        drawn, _ = archive.draw(seed, index + attempt * 1_000_003, size, profile)
        if not drawn.mistake:
            return drawn.settings, drawn.scene
    raise RuntimeError("the archive drew only mistakes")  # a share of 0.1: never in practice


def _at_dose(settings: Settings, dose: float, rng) -> Settings:
    """The settings at `dose` e/px: the current changed (dwell kept) if that stays inside the
    typical range, else a current and dwell time both inside theirs; the operator's gain."""
    current_range, dwell_range = (schema.field(n).typical for n in ("beam_current", "dwell_time"))
    current = dose / (settings.dwell_time * ELECTRONS_PER_PA_US)
    if not current_range[0] <= current <= current_range[1] / RATIOS[1]:
        lo = max(current_range[0], dose / (ELECTRONS_PER_PA_US * dwell_range[1]))
        hi = min(current_range[1] / RATIOS[1], dose / (ELECTRONS_PER_PA_US * dwell_range[0]))
        current = float(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo)))))
    dwell = dose / (current * ELECTRONS_PER_PA_US)
    settings = replace(settings, beam_current=current, dwell_time=dwell)
    return replace(settings, detector_gain=operator_gain(rng, settings.dose))
