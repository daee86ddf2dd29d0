"""From a noisy image in electrons to the clean image the target settings would show.

The image is variance-stabilised with its own calibration (unit noise at every level), the
U-Net corrects it in that space, reading the whole image's Fourier estimate beside it
(`wiener`), around the whole image's mean level (one number per image: a tile sees the
same input as the whole image), the result is taken back to electrons, kept
non-negative (no signal is below the black level) and, at inference, weighed against the
input where its level errs beyond the input's noise (`consistency.blend`), then made to
agree with the input within its noise (`consistency.project`). Training and inference
share this path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cimp.denoise.consistency import LIMIT, Seen, blend, project, window_noise
from cimp.denoise.electrons import Calibration, stabilise, unstabilise


@dataclass
class Noise:
    """Per image: the noise model (B,) and each window's noise (B, len(WINDOWS)) of
    `consistency`."""

    slope: torch.Tensor
    floor: torch.Tensor
    window_slope: torch.Tensor
    window_floor: torch.Tensor

    FIELDS = ("slope", "floor", "window_slope", "window_floor")

    @classmethod
    def of(cls, cals: Sequence[Calibration], device=None) -> Noise:
        window = [window_noise(c) for c in cals]
        columns = (
            [c.slope for c in cals],
            [c.floor for c in cals],
            [w[0] for w in window],
            [w[1] for w in window],
        )
        return cls(*(torch.tensor(v, dtype=torch.float32, device=device) for v in columns))

    def __getitem__(self, rows) -> Noise:
        return Noise(*(getattr(self, f)[rows] for f in self.FIELDS))

    def to(self, device) -> Noise:
        return Noise(*(getattr(self, f).to(device) for f in self.FIELDS))

    def stabilise(self, e: torch.Tensor) -> torch.Tensor:
        return stabilise(e, *self._shaped())

    def unstabilise(self, z: torch.Tensor) -> torch.Tensor:
        return unstabilise(z, *self._shaped())

    def _shaped(self):
        return self.slope.view(-1, 1, 1, 1), self.floor.view(-1, 1, 1, 1)


def level(noise: Noise, e: torch.Tensor) -> torch.Tensor:
    """(B,) mean of the stabilised image: the level the U-Net works around."""
    return noise.stabilise(e).mean(dim=(1, 2, 3))


def correct(unet, e: torch.Tensor, cond: torch.Tensor, noise: Noise, *, mean: torch.Tensor):
    """The U-Net's clean estimate in stabilised units, for a tile or a whole image; `e`
    (B, inputs, H, W): electrons and their Wiener guides (`wiener.unet_inputs`)."""
    shift = mean.view(-1, 1, 1, 1)
    z = torch.cat([noise.stabilise(e[:, :1]), e[:, 1:]], dim=1)
    return shift + unet(z - shift, cond)


def finish(z: torch.Tensor, noise: Noise) -> torch.Tensor:
    """Stabilised estimate -> clean electrons, non-negative."""
    return noise.unstabilise(z).clamp_min(0.0)


def blended(clean: torch.Tensor, e: torch.Tensor | Seen, noise: Noise, valid=None, *, top=None):
    """Clean electrons weighed against `e` in its coarse windows (`consistency.blend`)."""
    return blend(clean, e, noise.window_floor, noise.window_slope, valid=valid, top=top)


def held_to(
    clean: torch.Tensor, e: torch.Tensor | Seen, noise: Noise, valid=None, *, top=None, limit=LIMIT
):
    """Clean electrons made to agree with `e` within `limit` sigma of its noise
    (`consistency.project`; `top` (B,): the clean level at which the output saturates)."""
    held = project(
        clean, e, noise.window_floor, noise.window_slope, valid=valid, top=top, limit=limit
    )
    return held.clamp_min(0.0)
