"""Apply a fully convolutional net to an image of any size in overlapping tiles, no seams.

Each tile is computed with a halo of context on every side and only its centre is kept,
so a pixel sees the same neighbourhood as in one pass over the whole image; tile corners
sit on the net's pooling grid, so its sub-sampling lines up too. Borders are mirrored.
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
    multiple: int = 16,
    batch: int = 4,
    show_progress: bool = False,
) -> np.ndarray:
    """fn over (B, C, h, w) float tensors, applied tile by tile to an image (h, w) or its
    channels (C, h, w); fn returns one channel."""
    channels = image if image.ndim == 3 else image[None]
    h, w = channels.shape[-2:]
    tile = min(round_up(tile, multiple), round_up(max(h, w), multiple))
    halo = round_up(halo, multiple)
    rows, cols = -(-h // tile), -(-w // tile)
    pad = ((halo, rows * tile - h + halo), (halo, cols * tile - w + halo))
    padded = np.pad(channels.astype(np.float32), ((0, 0), *pad), mode="symmetric")
    padded = torch.from_numpy(padded)
    out = np.empty((rows * tile, cols * tile), dtype=np.float32)
    corners = [(i * tile, j * tile) for i in range(rows) for j in range(cols)]
    span = tile + 2 * halo
    with Bar("tiles", total=len(corners), enabled=show_progress) as bar:
        for start in range(0, len(corners), batch):
            group = corners[start : start + batch]
            x = torch.stack([padded[:, r : r + span, c : c + span] for r, c in group])
            y = fn(x)[:, 0, halo : halo + tile, halo : halo + tile].float().cpu().numpy()
            for (r, c), part in zip(group, y, strict=True):
                out[r : r + tile, c : c + tile] = part
            bar.advance(len(group))
    return out[:h, :w]
