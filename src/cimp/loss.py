"""Contrastive losses (InfoNCE and SigLIP), correct under torch.distributed.

As in open_clip: each process gathers every process's embeddings with gradient, and scores
its own rows against all columns ("local loss"). Averaging the processes' gradients (what DDP
does) then gives exactly the gradient of the loss on the whole global batch.

Near-identical settings are frequent (series, dose pairs, recipes): with `positive_radius`,
every pair whose normalised metadata lie within that distance counts as a positive.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F


def gather(x: torch.Tensor) -> torch.Tensor:
    """All processes' rows, concatenated in rank order; gradients flow back to their owners."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return torch.cat(dist_fn.all_gather(x), dim=0)


def _offset(n_local: int) -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() * n_local
    return 0


def positive_mask(
    local_meta: torch.Tensor, all_meta: torch.Tensor, radius: float, offset: int
) -> torch.Tensor:
    """(n_local, n_all) bool: the own pair, plus pairs with metadata within `radius`."""
    n = len(local_meta)
    own = torch.zeros(n, len(all_meta), dtype=torch.bool, device=local_meta.device)
    own[torch.arange(n), torch.arange(n) + offset] = True
    if radius <= 0:
        return own
    close = torch.cdist(local_meta.float(), all_meta.float()) <= radius
    return own | close


def info_nce(image, meta, logit_scale, targets=None, *, positive_radius: float = 0.0):
    """Symmetric InfoNCE; `targets` (B, F) are the normalised metadata for multi-positives."""
    all_image, all_meta = gather(image), gather(meta)
    offset = _offset(len(image))
    scale = logit_scale.exp()
    logits_image = scale * image @ all_meta.T  # my images against every metadata
    logits_meta = scale * meta @ all_image.T
    if targets is None:
        targets = torch.zeros(len(image), 0, device=image.device)
    mask = positive_mask(targets, gather(targets), positive_radius, offset).float()
    soft = mask / mask.sum(dim=1, keepdim=True)
    loss_image = -(soft * F.log_softmax(logits_image, dim=1)).sum(dim=1).mean()
    loss_meta = -(soft * F.log_softmax(logits_meta, dim=1)).sum(dim=1).mean()
    return (loss_image + loss_meta) / 2


def siglip(image, meta, logit_scale, logit_bias, *, targets=None, positive_radius: float = 0.0):
    """Sigmoid loss: every pair is a binary decision, no softmax over the batch."""
    all_meta = gather(meta)
    offset = _offset(len(image))
    logits = logit_scale.exp() * image @ all_meta.T + logit_bias
    if targets is None:
        targets = torch.zeros(len(image), 0, device=image.device)
    labels = 2 * positive_mask(targets, gather(targets), positive_radius, offset).float() - 1
    return -F.logsigmoid(labels * logits).sum(dim=1).mean()
