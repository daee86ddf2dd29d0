"""The dose transfer's training loss: the benchmark's PSNR and SSIM, per crop.

Both are measured as the benchmark measures them: against the target as the detector
records it (saturated at its top, so a prediction above the top costs nothing there and
one below it does), with the target crop's own range as the peak, and SSIM over 7 x 7
windows with the usual constants (scikit-image's defaults). SSIM_WEIGHT puts 0.1 of SSIM
level with one decibel of PSNR. Crops saturated all over are not scored.

Below the variance-stabilising transform's range (z < 0) an estimate reads as no electrons
(`electrons.unstabilise`), and no change of it changes that: a net that strays there gets
no gradient back. One training did (SSIM weight 3, an experiment), around step 4,900 of
14,969, and never came back (its output -10^11 everywhere, validation flat for 10,000
steps). RANGE_WEIGHT dB per unit of the mean excursion below the range pulls such
estimates back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cimp.denoise.render import Noise, correct, finish

SSIM_WEIGHT = 10.0  # dB per unit of SSIM
RANGE_WEIGHT = 1.0  # dB per unit of the mean stabilised excursion below the range
WINDOW, K1, K2 = 7, 0.01, 0.03


def ssim(x: torch.Tensor, y: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
    """(B,) mean SSIM of x against y (B, 1, H, W) with data range `span` (B,)."""

    def mean(t):
        return F.avg_pool2d(t, WINDOW, stride=1)

    n = WINDOW * WINDOW
    mx, my = mean(x), mean(y)
    vx = (mean(x * x) - mx * mx) * n / (n - 1)
    vy = (mean(y * y) - my * my) * n / (n - 1)
    cov = (mean(x * y) - mx * my) * n / (n - 1)
    c1, c2 = ((k * span).view(-1, 1, 1, 1).square() for k in (K1, K2))
    s = (2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))


def transfer_loss(unet, electrons, targets, cond, levels, noise: Noise, top) -> torch.Tensor:
    """-(PSNR + SSIM_WEIGHT x SSIM) per crop (`transfer_score`), averaged over the crops not
    saturated all over, and RANGE_WEIGHT x the mean excursion below the range per crop."""
    z = correct(unet, electrons, cond, noise, mean=levels)
    stray = RANGE_WEIGHT * F.relu(-z).mean(dim=(1, 2, 3))
    score, scored = transfer_score(finish(z, noise), targets, top)
    return stray.mean() - (score * scored).sum() / scored.sum().clamp_min(1)


def transfer_score(clean, targets, top) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) PSNR + SSIM_WEIGHT x SSIM of clean electrons against their targets (NaN pixels:
    the estimate stands in), both saturated at the detector's `top` (B,), and (B,) whether
    a crop is scored (not saturated all over)."""
    top = top.view(-1, 1, 1, 1)
    clean = torch.minimum(clean, top)
    known = torch.isfinite(targets)
    target = torch.minimum(torch.where(known, targets, clean.detach()), top)
    count = known.sum(dim=(1, 2, 3)).clamp_min(1)
    mse = ((clean - target) * known).square().sum(dim=(1, 2, 3)) / count
    high = torch.where(known, target, torch.full_like(target, -torch.inf)).amax(dim=(1, 2, 3))
    low = torch.where(known, target, torch.full_like(target, torch.inf)).amin(dim=(1, 2, 3))
    span = (high - low).clamp_min(1e-3)
    psnr = -10 * torch.log10(mse / span.square() + 1e-6)  # at most 60 decibels
    return psnr + SSIM_WEIGHT * ssim(clean, target, span), high > low
