"""What the contrastive model must beat: hand-crafted image statistics, and a supervised CNN
of the same size trained directly on the fields."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from cimp.data import CropDataset, StepSampler, collate
from cimp.model import CNNEncoder, ModelConfig
from cimp.optim import param_groups, set_lr
from cimp.progress import Bar

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
SPECTRUM_BINS = 12


def handcrafted_features(image: np.ndarray) -> np.ndarray:
    """Intensity quantiles, clipping fractions, noise estimates, scan-axis correlations, and
    the radial power spectrum with its peak position, of one image in raw counts."""
    x = image.astype(np.float64)
    top = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else x.max()
    q = np.quantile(x, QUANTILES)
    dx, dy = np.diff(x, axis=1), np.diff(x, axis=0)
    noise_x = 1.4826 * np.median(np.abs(dx - np.median(dx))) / np.sqrt(2)
    noise_y = 1.4826 * np.median(np.abs(dy - np.median(dy))) / np.sqrt(2)
    centred = x - x.mean()
    var = centred.var() + 1e-9
    corr_x = (centred[:, 1:] * centred[:, :-1]).mean() / var
    corr_y = (centred[1:] * centred[:-1]).mean() / var
    power = np.abs(np.fft.rfft2(centred)) ** 2
    fy = np.fft.fftfreq(x.shape[0])[:, None]
    fx = np.fft.rfftfreq(x.shape[1])[None, :]
    radius = np.hypot(fx, fy)
    edges = np.geomspace(1.0 / max(x.shape), 0.71, SPECTRUM_BINS + 1)
    which = np.digitize(radius, edges) - 1
    total = power.sum() + 1e-9
    spectrum = [power[which == b].sum() / total for b in range(SPECTRUM_BINS)]
    ring = radius > 2.0 / max(x.shape)
    peak = radius[ring][np.argmax(power[ring])]
    return np.concatenate(
        [
            np.log1p(np.maximum(q, 0.0)),
            [(x <= 0).mean(), (x >= top).mean(), x.mean() / top],
            np.log1p([noise_x, noise_y, var]),
            [
                np.log1p(noise_x) - np.log1p(noise_y),
                corr_x,
                corr_y,
                peak,
                np.log(spectrum[-1] + 1e-9),
            ],
            np.log(np.asarray(spectrum) + 1e-9),
        ]
    )


class Regressor(torch.nn.Module):
    """The contrastive model's image encoder, with a linear head onto the z-scored fields."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.net = CNNEncoder(config.widths, len(config.fields))

    def forward(self, image):
        return self.net(image)


def train_regressor(
    config: ModelConfig,
    train_set: CropDataset,
    steps: int,
    batch_size: int,
    *,
    lr: float,
    seed: int,
    device,
    show_progress: bool = True,
) -> Regressor:
    """Supervised baseline: masked MSE on the z-scored fields, same schedule as pre-training."""
    torch.manual_seed(seed)
    model = Regressor(config).to(device)
    optimizer = torch.optim.AdamW(param_groups(model, 0.05), lr=lr, betas=(0.9, 0.98))
    sampler = StepSampler(len(train_set), batch_size, steps, seed)
    loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate)
    with Bar("supervised baseline", steps, show_progress) as bar:
        for step, batch in enumerate(loader):
            batch = batch.to(device)
            set_lr(optimizer, lr, step, steps)
            model.train()
            target_known = train_set.present[batch.index.cpu().numpy()]
            mask = torch.as_tensor(target_known, device=device).float()
            error = (model(batch.image) - batch.values) ** 2 * mask
            loss = error.sum() / mask.sum().clamp(min=1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.advance(note=f"loss {loss.item():.3f}")
    return model.eval()
