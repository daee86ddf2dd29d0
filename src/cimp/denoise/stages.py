"""The stages of a dose transfer, in order, over one `State` (docs/denoise.md).

`Denoiser.transfer` calls them one after another:

    calibrated    counts -> detected electrons, the target and the conditioning row
    straightened  the scan's line displacements read, for the guides (`scanlines`)
    guided_inputs the image and its Fourier guides, the U-Net's inputs (`wiener`)
    estimated     the U-Net over tiles, the parities of the whole-image guide (`unet`)
    structured    the detail beyond the whole-image guide its SNR earns (`structure`)
    readings      which pixels the blend, SURE and the hold may compare (`consistency`)
    shared        the share of the local guide SURE reads for the image (`sure`)
    blended       weighed against the input by how far it errs (`consistency.blend`)
    held          held to the input within its noise (`consistency.project`)

and `Denoiser.result` takes the state back to counts. Each stage reads the state and
writes what it adds; the benchmark's ablations leave stages out (`ABLATIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cimp.denoise import scanlines
from cimp.denoise.consistency import Seen, blend_change, blend_gains, readable
from cimp.denoise.electrons import Calibration
from cimp.denoise.render import Noise, correct, finish, held_to, level
from cimp.denoise.render import blended as blend
from cimp.denoise.scanlines import Lines
from cimp.denoise.structure import StructureGain, shrunk, signal_to_noise
from cimp.denoise.sure import After, guide_share, probe, reads
from cimp.denoise.tiles import tiled
from cimp.denoise.unet import FiLMUNet
from cimp.denoise.wiener import parities_from, unet_inputs

# the stages the benchmark's ablations leave out, by the transfer's flag
ABLATIONS = {
    "straighten": ("straightened",),
    "guided": ("shared",),
    "hold": ("readings", "shared", "blended", "held"),
}


@dataclass
class State:
    """What a transfer knows of one image so far. Electrons are (H, W) arrays, clean
    estimates (1, 1, H, W) tensors on the device."""

    image: np.ndarray  # the input, in counts
    source: dict
    target: dict
    ratio: float  # target dose / source dose
    cal: Calibration  # counts <-> electrons of the source
    e: np.ndarray  # the input in electrons
    cond: torch.Tensor  # the U-Net's conditioning row (1, D)
    noise: Noise
    in_range: np.ndarray  # pixels whose readings are not clipped
    seen: Seen  # the input's windows, shared by the blend's and the hold's steps
    lines: Lines | None = None
    channels: np.ndarray | None = None  # the U-Net's inputs (K, H, W)
    perturbation: tuple[np.ndarray, np.ndarray] | None = None  # SURE's probe (`sure.probe`)
    probed: np.ndarray | None = None  # the probe's inputs
    first: np.ndarray | None = None  # the U-Net's stabilised estimate, as it came
    z_probed: np.ndarray | None = None  # the same of the probe
    free: torch.Tensor | None = None  # the clean estimate, stage by stage
    snr: float = 0.0
    keep: float = 1.0  # share of the detail beyond the whole-image guide kept
    valid: torch.Tensor | None = None  # pixels the blend and the hold compare
    saturates: torch.Tensor | None = None  # electrons above which the target saturates
    unblended: torch.Tensor | None = None  # the blend of the estimate before any share
    after: After | None = None  # what the blend does to a change (`sure.After`)
    guide: float = 0.0  # the local guide's share
    clean: torch.Tensor | None = None  # the output in clean electrons

    @property
    def top(self) -> float:
        """The detector's top in counts: the input's integer range (none for floats)."""
        kind = self.image.dtype
        return float(np.iinfo(kind).max) if kind.kind in "ui" else np.inf


class Network:
    """The U-Net of one transfer, conditioned on its image: stabilised inputs in tiles ->
    stabilised estimates, and those back to clean electrons."""

    def __init__(self, unet: FiLMUNet, state: State, device: torch.device):
        self.unet, self.state, self.device = unet, state, device
        self.mean = level(state.noise, state.seen.electrons)

    def __call__(self, tiles: torch.Tensor) -> torch.Tensor:
        """The estimates (B, K, h, w) of tiles (B, K x inputs, h, w): K images' inputs (the
        image's and its SURE probe's) in one batch."""
        inputs = self.unet.config.inputs
        n, k, size = len(tiles), tiles.shape[1] // inputs, tiles.shape[-2:]
        x = tiles.reshape(n * k, inputs, *size)
        x = x.to(self.device, memory_format=torch.channels_last)
        rows = [0] * (n * k)
        s = self.state
        z = correct(self.unet, x, s.cond[rows], s.noise[rows], mean=self.mean[rows])
        return z.reshape(n, k, *size)

    def clean(self, z: np.ndarray) -> torch.Tensor:
        """Clean electrons (1, 1, H, W) of a stabilised estimate (H, W)."""
        return finish(torch.from_numpy(z)[None, None].to(self.device), self.state.noise)

    def kept(self, z: np.ndarray, guide: np.ndarray) -> np.ndarray:
        """A stabilised estimate (H, W) with the state's `keep` of its structure beyond the
        whole-image `guide` (stabilised (H, W))."""
        keep = self.state.keep
        if keep >= 1.0:
            return z
        clean = shrunk(self.clean(z), keep, self.clean(guide))
        return plane(self.state.noise.stabilise(clean)).astype(z.dtype)


class Estimate:
    """What SURE's traces read (`sure.Estimate`): the U-Net's estimate and the local
    guide of electrons x on some of the image's rows, as the transfer makes them."""

    def __init__(self, network: Network, tile: int):
        self.network, self.tile = network, tile

    def __call__(self, x: np.ndarray, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        state = self.network.state
        part = None if state.lines is None else state.lines.rows(rows)
        parts = unet_inputs(x, state.cal, lines=part)
        z = tiled(self.network, parts, self.tile, multiple=self.network.unet.config.multiple)
        return self.network.kept(z, parts[1]), parts[2]


def straightened(state: State) -> None:
    """The scan's line displacements (`scanlines.read`), where the image shows them beyond
    its noise: the guides read the image put straight."""
    state.lines = scanlines.read(state.e, state.cal, state.in_range)


def guided_inputs(state: State, probing: bool) -> None:
    """The U-Net's inputs: the electrons and their Fourier guides; with `probing`, those
    of SURE's perturbed image too, to run in the same batch (`sure.probe`)."""
    state.channels = unet_inputs(state.e, state.cal, lines=state.lines)
    state.perturbation = probe(state.e, state.cal) if probing else None
    if state.perturbation is not None:
        state.probed = unet_inputs(state.perturbation[0], state.cal, lines=state.lines)


def estimated(state: State, network: Network, tile: int, show_progress: bool) -> None:
    """The U-Net over tiles (the probe beside the image), its pixel-parity means the
    whole-image guide's, so its 2x2 grid draws no pattern of its own."""
    channels, probed = state.channels, state.probed
    both = channels if probed is None else np.concatenate([channels, probed])
    multiple = network.unet.config.multiple
    z = tiled(network, both, tile, multiple=multiple, show_progress=show_progress)
    state.first, state.z_probed = (z, None) if probed is None else z
    state.free = network.clean(parities_from(state.first, channels[1]))
    state.snr = signal_to_noise(state.free, state.cal.slope, state.cal.floor)


def structured(state: State, network: Network, gain: StructureGain | None) -> None:
    """The detail beyond the whole-image guide scaled by the share the image's
    signal-to-noise ratio earns (`structure`; a DRUN without a fitted gain keeps it all)."""
    state.keep = 1.0 if gain is None else gain.of(state.snr)
    if state.keep < 1.0:
        state.free = shrunk(state.free, state.keep, network.clean(state.channels[1]))


def readings(state: State) -> None:
    """The pixels the blend, SURE and the hold compare: unclipped in the input and readable
    at the output's level; and the electrons above which the target reads saturated."""
    valid = torch.from_numpy(state.in_range)[None, None].to(state.free.device)
    state.valid = valid & readable(state.free, state.seen, state.cal, state.image.dtype)
    saturated = state.cal.electrons(state.top) / state.ratio
    state.saturates = torch.tensor([saturated], device=state.free.device)


def shared(state: State, network: Network, estimate: Estimate) -> None:
    """The local guide's share by SURE, chosen for the output after the blend: the blend of
    the estimate at share 0 is kept for the blend stage (`sure.guide_share`)."""
    free = state.free
    g = network.clean(state.channels[2])
    sure_reads = state.valid & (free < state.saturates)  # what SURE can read
    state.unblended, state.after = _after_blend(free, state)
    known = None  # `sure.traces`: the probe, the estimates before and after it
    if state.z_probed is not None:
        before = (network.kept(state.first, state.channels[1]), state.channels[2])
        probed = (network.kept(state.z_probed, state.probed[1]), state.probed[2])
        known = (state.perturbation, before, probed)
    u, guide = plane(free), plane(g)
    mask = sure_reads[0, 0].cpu().numpy()
    share = guide_share(
        u, guide, state.e, state.cal, valid=mask, estimate=estimate, known=known, after=state.after
    )
    state.guide = share
    if share != 0.0:
        state.free = torch.where(sure_reads, free + share * (g - free), free)


def blended(state: State) -> None:
    """Weighed against the input in windows by how far the output errs beyond its noise."""
    if state.unblended is not None and not state.guide > 0.0:
        state.free = state.unblended
        return
    state.free = blend(state.free, state.seen, state.noise, state.valid, top=state.saturates)


def held(state: State, limit: float) -> None:
    """Moved back to within `limit` sigma of the input's noise wherever it strays."""
    s = state
    s.clean = held_to(s.free, s.seen, s.noise, s.valid, top=s.saturates, limit=limit)


def probing(state: State) -> bool:
    """Whether SURE's probe runs beside the image: where SURE would read the image at a
    dark output (`sure.reads`), which reads fewer pixels than any other: every image SURE
    will read, and a few more."""
    dark = torch.zeros_like(state.seen.electrons)
    lowest = readable(dark, state.seen, state.cal, state.image.dtype)[0, 0].cpu().numpy()
    return reads(state.in_range & lowest)


def _after_blend(free: torch.Tensor, state: State) -> tuple[torch.Tensor, After]:
    """The output `free` blended, and what the blend does to it and to a change of it
    (`sure.After`)."""
    noise = state.noise
    base, gains = blend_gains(
        free,
        state.seen,
        noise.window_floor,
        noise.window_slope,
        valid=state.valid,
        top=state.saturates,
    )

    def survives(change: np.ndarray) -> np.ndarray:
        return plane(blend_change(torch.from_numpy(change)[None, None].to(free), gains))

    return base, (plane(base), survives)


def plane(x: torch.Tensor) -> np.ndarray:
    """(H, W) float64 of a (1, 1, H, W) tensor."""
    return x[0, 0].cpu().numpy().astype(np.float64)
