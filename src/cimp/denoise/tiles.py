"""Apply a fully convolutional net to an image of any size in overlapping tiles, no seams.

The image is mirrored by a `border` on every side (what a net sees beyond the image's
edge) and cut into tiles; each is computed with a halo of the padded image around it,
clipped at the padded image's edge, and only its centre is kept, so a pixel sees the same
neighbourhood as in one pass over the whole padded image. Tile corners sit on the net's
pooling grid, so its sub-sampling lines up too. The halo must reach as far as the net
looks (48 px: 99.99 % of a trained U-Net's sensitivity); the border need not: a few
pixels of mirror give what a wide one gives, at less work.
A net that reads its whole tile at once is not fully convolutional: a U-Net trained with
the spectral filter (`unet.Spectral`) gives tiles that differ from one pass. Images up to
a tile (512 px at inference) are one pass.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from cimp.progress import Bar


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    image: np.ndarray,
    tile: int = 256,
    halo: int = 48,
    *,
    multiple: int = 16,
    batch: int = 4,
    show_progress: bool = False,
    border: int = 8,
) -> np.ndarray:
    """fn over (B, C, h, w) float tensors, applied tile by tile to an image (h, w) or its
    channels (C, h, w); fn returns K channels: the result is (h, w) for one, (K, h, w)
    for more."""
    channels = image if image.ndim == 3 else image[None]
    h, w = channels.shape[-2:]
    halo = round_up(halo, multiple)
    size = [round_up(n + 2 * border, multiple) for n in (h, w)]
    pad = [(border, s - n - border) for s, n in zip(size, (h, w), strict=True)]
    padded = torch.from_numpy(np.pad(channels.astype(np.float32), ((0, 0), *pad), "symmetric"))
    tile = min(round_up(tile + 2 * border, multiple), max(size))  # `tile` px of the image
    out = None
    windows: dict[tuple, list] = {}  # tiles grouped by the shape of their window
    for r in range(0, size[0], tile):
        for c in range(0, size[1], tile):
            rows = (max(r - halo, 0), min(r + tile + halo, size[0]))
            cols = (max(c - halo, 0), min(c + tile + halo, size[1]))
            shape = (rows[1] - rows[0], cols[1] - cols[0])
            windows.setdefault(shape, []).append((r, c, rows[0], cols[0]))
    with Bar("tiles", total=sum(map(len, windows.values())), enabled=show_progress) as bar:
        for (dh, dw), group in windows.items():
            for start in range(0, len(group), batch):
                part = group[start : start + batch]
                x = torch.stack([padded[:, r0 : r0 + dh, c0 : c0 + dw] for _, _, r0, c0 in part])
                y = fn(x).float().cpu().numpy()
                if out is None:
                    out = np.empty((y.shape[1], *size), dtype=np.float32)
                for (r, c, r0, c0), result in zip(part, y, strict=True):
                    keep = result[:, r - r0 : r - r0 + tile, c - c0 : c - c0 + tile]
                    out[:, r : r + keep.shape[1], c : c + keep.shape[2]] = keep
                bar.advance(len(part))
    out = out[:, border : border + h, border : border + w]
    return out[0] if len(out) == 1 else out
