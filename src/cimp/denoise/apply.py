"""Dose transfer of whole images with a trained denoiser run (DRUN).

`Denoiser.transfer` runs the stages of `cimp.denoise.stages` in order (docs/denoise.md):
the image in detected electrons (`electrons`) and the U-Net's conditioning (`condition`),
the scan's lines read (`scanlines`), the Fourier guides (`wiener`), the U-Net over tiles,
the structure its signal-to-noise ratio earns (`structure`), the local guide's share by
SURE (`sure`), the blend and the hold (`consistency`), and back to counts at the target
dose: black + gain x ratio x clean electrons, as 32-bit floats, never below the black level
nor above the top of the input's integer range (the detector's).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cimp.checkpoint import file_id, load_weights
from cimp.denoise import stages
from cimp.denoise.condition import condition_rows, physics, target_settings
from cimp.denoise.consistency import LIMIT, Seen, unclipped
from cimp.denoise.electrons import Calibration, calibrate
from cimp.denoise.render import Noise
from cimp.denoise.stages import State, plane
from cimp.denoise.structure import StructureGain
from cimp.denoise.unet import FiLMUNet, UNetConfig
from cimp.device import resolve_device
from cimp.errors import CimpError
from cimp.instrument.profile import Profile
from cimp.instrument.profile import default as default_profile
from cimp.run import Run

RATIO_MARGIN = 1.5  # a ratio this far beyond the trained ones is named as such
HELD_NOTE = 0.01  # share of pixels held to the input above which the user is told
KEPT_NOTE = 0.9  # share of the U-Net's structure kept (`structure`) below which the user is told


@dataclass
class Transfer:
    """One re-rendered image and what was asked."""

    image: np.ndarray  # float32 counts at the target dose
    source: dict
    target: dict
    ratio: float  # target dose / source dose
    calibration: Calibration  # counts <-> electrons of the source
    held: float  # share of pixels the hold moved by over half their noise (after the blend)
    guide: float = 0.0  # share of the local Wiener guide in the output (`sure`)
    kept: float = 1.0  # share of the U-Net's structure beyond the Fourier guide kept (`structure`)
    lines: float = 0.0  # rms displacement (px) of the scan's lines the guides undid (`scanlines`)
    notes: list[str] = field(default_factory=list)  # what the user should know

    @property
    def black(self) -> float:
        return self.calibration.black


class Denoiser:
    """A trained DRUN: the U-Net and the frozen CIMP encoders it is conditioned on."""

    def __init__(self, drun: str | Path, device: str = "auto", profile: Profile | None = None):
        self.drun = Path(drun)
        if not (self.drun / "unet.safetensors").exists():
            raise CimpError(
                f"{self.drun} holds no trained denoiser (unet.safetensors); "
                "make one with `cimp train-denoiser`"
            )
        self.config = json.loads((self.drun / "config.json").read_text())
        try:
            unet = UNetConfig.saved(self.config["unet"])
        except CimpError as err:
            raise CimpError(f"{self.drun} holds {err}") from None
        self.device = resolve_device(device)
        self.detector = (profile or default_profile()).detector
        run = Run(self.drun / "cimp")
        self.encoder, self.normalizer = run.load_model(self.device), run.normalizer
        self.unet = FiLMUNet(unet)
        load_weights(self.unet, self.drun / "unet.safetensors")
        # channels last: faster convolutions on a CPU, most on large images
        self.unet.to(self.device, memory_format=torch.channels_last).eval()
        self.weights = file_id(self.drun / "unet.safetensors")
        self.gain = StructureGain.saved(self.config.get("structure_gain"))  # None: keep all

    @property
    def crop(self) -> int:
        return self.encoder.config.crop

    @torch.inference_mode()  # no autograd bookkeeping at all: faster, the same output
    def transfer(
        self,
        image: np.ndarray,
        source: dict,
        changes: dict[str, str],
        *,
        tile: int = 512,
        show_progress: bool = False,
        limit: float = LIMIT,
        leave_out: Collection[str] = (),
    ) -> Transfer:
        """`image` as if acquired with `changes` (e.g. {'dwell_time': 'x4'}) applied, held to
        the input within `limit` sigma of its noise: the stages of `cimp.denoise.stages` in
        order. `leave_out` names the benchmark's ablations (`stages.ABLATIONS`): "hold"
        leaves the U-Net's output neither blended nor held, "guided" takes none of the local
        guide, "straighten" reads the guides on the image as its lines lie."""
        unknown = set(leave_out) - set(stages.ABLATIONS)
        if unknown:
            raise CimpError(f"no stage to leave out named {', '.join(sorted(unknown))}")
        skipped = {name for flag in leave_out for name in stages.ABLATIONS[flag]}
        state = self.calibrated(image, source, changes)
        network = stages.Network(self.unet, state, self.device)
        if "straightened" not in skipped:
            stages.straightened(state)
        probing = "shared" not in skipped and stages.probing(state)
        stages.guided_inputs(state, probing)
        stages.estimated(state, network, tile, show_progress)
        stages.structured(state, network, self.gain)
        if "readings" not in skipped:
            stages.readings(state)
        if "shared" not in skipped:
            stages.shared(state, network, stages.Estimate(network, tile))
        if "blended" not in skipped:
            stages.blended(state)
        state.clean = state.free
        if "held" not in skipped:
            stages.held(state, limit)
        return self.result(state, limit)

    def calibrated(self, image: np.ndarray, source: dict, changes: dict[str, str]) -> State:
        """The first stage: the image in detected electrons, the target settings, the dose
        ratio and the U-Net's conditioning row."""
        target, ratio, cal, e, cond = self.conditioning(image, source, changes)
        noise = Noise.of([cal], self.device)
        seen = Seen(torch.from_numpy(e)[None, None].to(self.device))
        return State(image, source, target, ratio, cal, e, cond, noise, unclipped(image), seen)

    def result(self, state: State, limit: float) -> Transfer:
        """The last stage: the clean electrons at the target dose, in the detector's counts
        (never above its top: the share that would be is named), and what the user should
        know."""
        free, clean, cal = state.free, state.clean, state.cal
        sigma = (cal.slope * free + cal.floor).sqrt()
        held = float(((clean - free).abs() > 0.5 * sigma).float().mean())
        out = cal.counts(state.ratio * plane(clean))
        over = float(np.mean(out > state.top))
        out = np.minimum(out, state.top).astype(np.float32)
        notes = self.notes(state.ratio, cal, held, over, limit=limit) + _kept_notes(
            state.snr, state.keep
        )
        moved = 0.0 if state.lines is None else state.lines.rms
        if moved:
            notes.append(
                f"the scan's lines sit {moved:.2g} px off a straight grid (rms; mains pickup, "
                "the scan's jitter): the guides read the image with them undone, the output "
                "keeps them as scanned"
            )
        return Transfer(
            out, state.source, state.target, state.ratio, cal, held, state.guide, state.keep,
            moved, notes,
        )  # fmt: skip

    def conditioning(self, image: np.ndarray, source: dict, changes: dict[str, str]):
        """(target settings, dose ratio, calibration, electrons, conditioning row (1, D) on
        the device) of a transfer; non-finite pixels read as the image's mean."""
        target, ratio = target_settings(source, changes)
        x = image.astype(np.float32)
        if not np.isfinite(x).all():
            x = np.where(np.isfinite(x), x, np.nanmean(x)).astype(np.float32)
        cal = calibrate(source, x, self.detector)
        e = cal.electrons(x)
        dwell_ratio = _dwell_ratio(source, target, changes)
        row = physics(ratio, dwell_ratio, float(e.mean()), cal.floor)
        cond = condition_rows(
            self.encoder, self.normalizer, [x], [source], targets=[target], physics_rows=[row]
        )
        return target, ratio, cal, e, cond.to(self.device)

    def notes(
        self, ratio: float, cal: Calibration, held: float, over: float, *, limit: float
    ) -> list[str]:
        """What the user should know: a ratio beyond those trained on, a black level read
        from the image, blocks held to the input (within `limit` sigma), counts beyond the
        detector's range."""
        notes = []
        ranges = [part["ratio_range"] for part in self.config["examples"].values()]
        top = max(r[1] for r in ranges)
        if ratio > RATIO_MARGIN * top:
            low = min(r[0] for r in ranges)
            notes.append(
                f"x{ratio:.3g} dose lies beyond the x{low:.3g}-x{top:.3g} the denoiser was "
                "trained on: the output is an extrapolation"
            )
        if cal.gain_from == "image":
            notes.append(
                f"no detector gain recorded: {cal.gain:.3g} counts per electron, measured from "
                "the image's own noise (a rough estimate: structure finer than 8 px adds to it)"
            )
        if cal.black_from == "image":
            notes.append(
                f"no detector offset recorded: the black level ({cal.black:.0f} counts) is the "
                "image's darkest region, right only if the image shows vacuum"
            )
        if not cal.response_known:
            notes.append(
                "no dwell time recorded: the detector's response along the scan is left out "
                "of the noise model"
            )
        if held > HELD_NOTE:
            notes.append(
                f"{100 * held:.1f} % of pixels were held to the input: there the U-Net strayed "
                f"beyond {limit} sigma of what the input shows (out of its training?)"
            )
        if over > 0:
            notes.append(
                f"{100 * over:.2f} % of pixels would exceed the detector's range at this dose: "
                "they read as saturated"
            )
        return notes


def _kept_notes(snr: float, keep: float) -> list[str]:
    """What the user should know of the structure kept (`structure`)."""
    if keep >= KEPT_NOTE:
        return []
    return [
        f"signal-to-noise ratio {_ratio(snr)} a pixel: {100 * keep:.0f} % of the detail the U-Net "
        "drew beyond the image's Fourier estimate is kept (fitted on twin images at this "
        "ratio: beyond that share, its detail added more error than it removed)"
    ]


def _ratio(snr: float) -> str:
    return "below 0.01" if snr < 0.01 else f"{snr:.2g}"


def _dwell_ratio(source: dict, target: dict, changes: dict[str, str]) -> float:
    """How many times longer the target's dwell time is (its factor if none is recorded)."""
    try:
        return float(target["dwell_time"]) / float(source["dwell_time"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return (
            target_settings({}, {"dwell_time": changes["dwell_time"]})[1]
            if ("dwell_time" in changes)
            else 1.0
        )
