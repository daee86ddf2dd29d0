"""Dose transfer of whole images with a trained denoiser run (DRUN).

The image is taken to detected electrons with the instrument profile's calibration and the
file's gain and offset (`electrons`), embedded once (centre crop, as the CIMP run embeds),
its Fourier guides computed on the whole image (`wiener`; with the scan's line-by-line
displacements undone where the image shows them, `scanlines`), the U-Net runs over them all
in tiles (SURE's probe of the image in the same batch), the result's pixel-parity means
are the whole image's guide's, it keeps the share of its structure beyond that guide's
that the image's signal-to-noise ratio earns (`structure`, fitted on the twin's truth),
takes the share of the local guide that SURE reads for the image (`sure`), is weighed
against the input and held to it window by window (`consistency`) and taken to the target
dose: black + gain x ratio x clean electrons. The result is in the detector's counts at the
target settings, as 32-bit floats: never below the black level, never above the top of the
input's integer range (the detector's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cimp.checkpoint import file_id, load_weights
from cimp.denoise import scanlines
from cimp.denoise.condition import condition_rows, physics, target_settings
from cimp.denoise.consistency import (
    LIMIT,
    Seen,
    blend_change,
    blend_gains,
    readable,
    unclipped,
)
from cimp.denoise.electrons import Calibration, calibrate
from cimp.denoise.render import (
    Noise,
    blended,
    correct,
    finish,
    held_to,
    level,
)
from cimp.denoise.structure import StructureGain, shrunk, signal_to_noise
from cimp.denoise.sure import After, guide_share, probe, reads
from cimp.denoise.tiles import tiled
from cimp.denoise.unet import FiLMUNet, UNetConfig
from cimp.denoise.wiener import parities_from, unet_inputs
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
        if "inputs" not in self.config["unet"]:
            raise CimpError(
                f"{self.drun} holds a U-Net without the Fourier guide, which this cimp "
                "needs: train it again with `cimp train-denoiser`"
            )
        self.device = resolve_device(device)
        self.detector = (profile or default_profile()).detector
        run = Run(self.drun / "cimp")
        self.encoder, self.normalizer = run.load_model(self.device), run.normalizer
        self.unet = FiLMUNet(UNetConfig.saved(self.config["unet"]))
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
        tile: int = 512,
        show_progress: bool = False,
        hold: bool = True,
        guided: bool = True,
        limit: float = LIMIT,
        straighten: bool = True,
    ) -> Transfer:
        """`image` as if acquired with `changes` (e.g. {'dwell_time': 'x4'}) applied, held to
        the input within `limit` sigma of its noise (`consistency.project`); `hold` False
        leaves the U-Net's output as it is, neither blended nor held, `guided` False takes
        none of the local guide (`sure`), `straighten` False reads the guides on the image as
        its lines lie (`scanlines`) (the benchmark's ablations)."""
        target, ratio, cal, e, cond = self.conditioning(image, source, changes)
        noise = Noise.of([cal], self.device)
        e_all = torch.from_numpy(e)[None, None].to(self.device)
        mean = level(noise, e_all)
        inputs, multiple = self.unet.config.inputs, self.unet.config.multiple
        guides = (self.unet.config.guide_smoothing, self.unet.config.weighed_means)

        def run(tiles: torch.Tensor) -> torch.Tensor:
            """The U-Net's estimates (B, K, h, w) of tiles (B, K x inputs, h, w): K images'
            inputs (the image's and its SURE probe's) in one batch."""
            n, k, size = len(tiles), tiles.shape[1] // inputs, tiles.shape[-2:]
            x = tiles.reshape(n * k, inputs, *size)
            x = x.to(self.device, memory_format=torch.channels_last)
            rows = [0] * (n * k)
            z = correct(self.unet, x, cond[rows], noise[rows], mean[rows])
            return z.reshape(n, k, *size)

        def clean_of(z: np.ndarray) -> torch.Tensor:
            """Clean electrons (1, 1, H, W) of a stabilised estimate (H, W)."""
            return finish(torch.from_numpy(z)[None, None].to(self.device), noise)

        def kept(z: np.ndarray, guide: np.ndarray) -> np.ndarray:
            """A stabilised estimate (H, W) with `keep` of its structure beyond the image's
            whole-image `guide` (stabilised (H, W))."""
            if keep >= 1.0:
                return z
            clean = shrunk(clean_of(z), keep, clean_of(guide))
            return _array(noise.stabilise(clean)).astype(z.dtype)

        def estimate(x: np.ndarray, rows: slice) -> tuple[np.ndarray, np.ndarray]:
            """The U-Net and the local guide of electrons x, the image's `rows` (`sure`)."""
            part = None if lines is None else lines.rows(rows)
            parts = unet_inputs(x, cal, inputs, *guides, lines=part)
            return kept(tiled(run, parts, tile, multiple=multiple), parts[1]), parts[2]

        in_range = unclipped(image)
        lines = scanlines.read(e, cal, in_range) if straighten else None
        channels = unet_inputs(e, cal, inputs, *guides, lines=lines)
        seen = Seen(e_all)  # the input's windows, shared by the hold's steps
        probing = hold and guided and inputs >= 3 and _sure_reads(in_range, seen, cal, image.dtype)
        perturbation = probe(e, cal) if probing else None  # run beside the image: one batch
        probed = None
        if perturbation is not None:
            probed = unet_inputs(perturbation[0], cal, inputs, *guides, lines=lines)
        both = channels if probed is None else np.concatenate([channels, probed])
        z = tiled(run, both, tile, multiple=multiple, show_progress=show_progress)
        first, z_probed = (z, None) if probed is None else z
        z = parities_from(first, channels[1])
        free = clean_of(z)
        snr = signal_to_noise(free, cal.slope, cal.floor)
        keep = 1.0 if self.gain is None else self.gain.of(snr)
        if keep < 1.0:  # `structure`: toward the whole-image guide
            free = shrunk(free, keep, clean_of(channels[1]))
        top = float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else np.inf
        clean, guide = free, 0.0
        if hold:
            valid = torch.from_numpy(in_range)[None, None].to(self.device)
            valid &= readable(free, seen, cal, image.dtype)
            saturates = torch.tensor([cal.electrons(top) / ratio], device=self.device)
            unguided = None  # the U-Net's estimate blended: the output's where no guide is taken
            if guided and inputs >= 3:
                g = clean_of(channels[2])
                readings = valid & (free < saturates)  # what SURE can read
                unguided, after = _after_blend(free, seen, noise, valid, saturates)
                known = None  # `sure.traces`: the probe, the estimates before and after it
                if z_probed is not None:
                    before = (kept(first, channels[1]), channels[2])
                    known = (perturbation, before, (kept(z_probed, probed[1]), probed[2]))
                free, guide = self.guided(free, g, e, cal, readings, estimate, known, after)
            if unguided is None or guide > 0.0:
                free = blended(free, seen, noise, valid, saturates)
            else:
                free = unguided
            clean = held_to(free, seen, noise, valid, saturates, limit)
        sigma = (cal.slope * free + cal.floor).sqrt()
        held = float(((clean - free).abs() > 0.5 * sigma).float().mean())
        clean = _array(clean)
        out = cal.counts(ratio * clean)
        over = float(np.mean(out > top))
        out = np.minimum(out, top).astype(np.float32)
        notes = self.notes(ratio, cal, held, over, limit) + _kept_notes(snr, keep)
        moved = 0.0 if lines is None else lines.rms
        if moved:
            notes.append(
                f"the scan's lines sit {moved:.2g} px off a straight grid (rms; mains pickup, "
                "the scan's jitter): the guides read the image with them undone, the output "
                "keeps them as scanned"
            )
        return Transfer(out, source, target, ratio, cal, held, guide, keep, moved, notes)

    def guided(
        self, free, g, e, cal, valid, estimate, known, after=None
    ) -> tuple[torch.Tensor, float]:
        """The U-Net's clean electrons `free` blended with the local guide's `g` (both
        (1, 1, H, W)) by the SURE-optimal share over the `valid` pixels, and that share
        (`sure.guide_share`, which reads `estimate`, `known` and `after`)."""
        u, guide = (_array(x) for x in (free, g))
        mask = valid[0, 0].cpu().numpy()
        share = guide_share(u, guide, e, cal, mask, estimate, known, after)
        if share == 0.0:
            return free, share
        return torch.where(valid, free + share * (g - free), free), share

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
        cond = condition_rows(self.encoder, self.normalizer, [x], [source], [target], [row])
        return target, ratio, cal, e, cond.to(self.device)

    def notes(
        self, ratio: float, cal: Calibration, held: float, over: float, limit: float
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


def _array(x: torch.Tensor) -> np.ndarray:
    """(H, W) float64 of a (1, 1, H, W) tensor."""
    return x[0, 0].cpu().numpy().astype(np.float64)


def _sure_reads(in_range: np.ndarray, seen: Seen, cal: Calibration, dtype) -> bool:
    """Whether SURE will read the image whatever the U-Net makes of it (`sure.reads`): its
    pixels `in_range` whose readings would not clip at the input's own level (`readable` at
    a dark output, fewer than SURE reads) are enough: the probe runs on every image SURE
    will read, and on a few more."""
    dark = torch.zeros_like(seen.electrons)
    lowest = readable(dark, seen, cal, dtype)[0, 0].cpu().numpy()
    return reads(in_range & lowest)


def _after_blend(free, seen: Seen, noise: Noise, valid, top) -> tuple[torch.Tensor, After]:
    """The output `free` blended, and what the blend does to it and to a change of it
    (`sure.After`)."""
    base, gains = blend_gains(free, seen, noise.window_floor, noise.window_slope, valid, top)

    def survives(change: np.ndarray) -> np.ndarray:
        return _array(blend_change(torch.from_numpy(change)[None, None].to(free), gains))

    return base, (_array(base), survives)


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
