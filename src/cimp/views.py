"""How the model reads a whole image: a grid of crops over its field of view, pooled.

A crop is the run's `crop` pixels square, never resized. Along each axis
n = min(ceil(size / crop), MAX_PER_AXIS) crops are spread evenly from edge to edge (n = 1:
the centre), so an image at least one crop large is read across its whole field of view
(a 2048 px image and 96 px crops: 16 x 16 crops, 56 % of its pixels; a 128 px image: 2 x 2).
Each crop's L2-normalised embedding is averaged over the image and normalised again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

MAX_PER_AXIS = 16
VIEW = "pooled"  # names what embeddings and predictors made this way belong to


def fits(table, crop: int):
    """Which rows of a dataset table hold an image at least one crop large (a bool Series)."""
    return (table["height"] >= crop) & (table["width"] >= crop)


def origins(length: int, crop: int) -> np.ndarray:
    """Where the crops start along one axis of `length` pixels."""
    n = min(math.ceil(length / crop), MAX_PER_AXIS)
    if n == 1:
        return np.array([(length - crop) // 2])
    return np.round(np.linspace(0, length - crop, n)).astype(int)


def crops(image: np.ndarray, crop: int) -> np.ndarray:
    """Every crop of the grid, (n, crop, crop), in the image's own dtype."""
    h, w = image.shape
    if min(h, w) < crop:
        raise ValueError(f"the image ({h} x {w}) is smaller than the model's {crop} px crop")
    return np.stack(
        [image[t : t + crop, s : s + crop] for t in origins(h, crop) for s in origins(w, crop)]
    )


@torch.no_grad()
def read_images(
    fn, images: Iterable[np.ndarray], crop: int, scale: float, *, device, batch_size: int = 256
) -> Iterator[torch.Tensor]:
    """`fn` on every crop of each image's grid: one (crops, ...) tensor per image, in order.
    Counts are scaled by the run's fixed intensity `scale`; crops of several images share
    a batch."""
    buffer: list[np.ndarray] = []

    def run() -> list[torch.Tensor]:
        x = np.nan_to_num(np.concatenate(buffer).astype(np.float32) * np.float32(scale))
        x = torch.from_numpy(x)[:, None]
        parts = [fn(x[i : i + batch_size].to(device)).float().cpu()
                 for i in range(0, len(x), batch_size)]  # fmt: skip
        out = list(torch.split(torch.cat(parts), [len(b) for b in buffer]))
        buffer.clear()
        return out

    for image in images:
        buffer.append(crops(image, crop))
        if sum(len(b) for b in buffer) >= batch_size:
            yield from run()
    if buffer:
        yield from run()


def embed_images(model, images: Iterable[np.ndarray], batch_size: int = 256) -> np.ndarray:
    """Pooled, L2-normalised image embeddings (N, E) of whole images."""
    device = next(model.parameters()).device
    crop, scale = model.config.crop, model.config.intensity_scale
    pooled = [
        F.normalize(each.mean(dim=0), dim=0).numpy()
        for each in read_images(
            model.encode_image, images, crop, scale, device=device, batch_size=batch_size
        )
    ]
    return np.stack(pooled) if pooled else np.zeros((0, model.config.embed_dim), np.float32)
