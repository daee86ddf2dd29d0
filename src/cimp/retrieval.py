"""Embedding a dataset and scoring cross-modal retrieval."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from cimp.data import CropDataset, collate


@torch.no_grad()
def embed(model, dataset: CropDataset, device, batch_size: int = 256):
    """Image and metadata embeddings (numpy, L2-normalised) of every item, centre crops."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    images, metas = [], []
    for batch in loader:
        batch = batch.to(device)
        image, meta = model(batch)
        images.append(image.float().cpu())
        metas.append(meta.float().cpu())
    return torch.cat(images).numpy(), torch.cat(metas).numpy()


def retrieval(
    image: np.ndarray,
    meta: np.ndarray,
    gallery: int = 1000,
    seed: int = 0,
    *,
    settings: np.ndarray | None = None,
) -> dict:
    """Top-1 and top-5 in both directions on a random gallery of at most `gallery` pairs.

    The right answer for image i is metadata i (and vice versa); chance is k / gallery.
    With `settings` (N x F recorded values, NaN where missing), also the top-1 that counts
    as a hit any item whose settings equal the query's: in an archive, images of one session
    often share every setting, and no model can tell which of them is the pair.
    """
    n = len(image)
    pick = np.random.default_rng(seed).permutation(n)[: min(gallery, n)]
    image, meta = image[pick], meta[pick]
    sim = image @ meta.T
    truth = np.arange(len(pick))
    out = {"gallery": len(pick), "chance_top1": 1 / len(pick), "chance_top5": min(5 / len(pick), 1)}
    for name, s in (("image_to_meta", sim), ("meta_to_image", sim.T)):
        rank = (s > s[truth, truth][:, None]).sum(axis=1)  # how many beat the right answer
        out[f"{name}_top1"] = float(np.mean(rank < 1))
        out[f"{name}_top5"] = float(np.mean(rank < 5))
        if settings is not None:
            chosen = np.asarray(settings, dtype=np.float64)[pick]
            best = chosen[s.argmax(axis=1)]
            same = np.isclose(best, chosen, rtol=1e-6) | (np.isnan(best) & np.isnan(chosen))
            out[f"{name}_top1_same_settings"] = float(np.mean(same.all(axis=1)))
    return out


GALLERIES = (100, 250, 500, 1000, 2000, 5000)


def retrieval_by_gallery(
    image: np.ndarray, meta: np.ndarray, settings: np.ndarray, repeats: int = 5
) -> dict[int, dict]:
    """Top-1 against gallery size (every size in GALLERIES the items allow, and all of
    them), each the mean over `repeats` random galleries (one when the gallery is all)."""
    n = len(image)
    sizes = sorted({g for g in GALLERIES if g < n} | {n})
    out = {}
    for size in sizes:
        runs = [
            retrieval(image, meta, size, seed, settings=settings)
            for seed in range(repeats if size < n else 1)
        ]
        keys = [k for k in runs[0] if "top1" in k and not k.startswith("chance")]
        out[size] = {k: float(np.mean([r[k] for r in runs])) for k in keys}
    return out
