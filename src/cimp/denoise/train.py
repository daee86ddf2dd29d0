"""Training the dose-transfer U-Net on top of a frozen CIMP run.

    DRUN/
      config.json         U-Net, training settings, the CIMP run it reads (and its hash)
      unet.safetensors    the U-Net
      cimp/               a copy of the CIMP run's weights, config and normaliser
      log.jsonl           training and validation loss

Two signals, usable together. Pairs (the same scene at two doses): the prediction at the
high dose is regressed on the high-dose image. Self-supervised, for images without a
partner: a random higher dose is asked for, the output's CIMP image embedding must match
that target's metadata embedding, and the clean image, binned 4x4, must stay consistent
with the input within its noise (a Gaussian approximation of the Poisson likelihood).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from cimp import views
from cimp.atomic import write_json
from cimp.checkpoint import save_weights
from cimp.config import DenoiserConfig
from cimp.denoise.condition import DOSE_FIELDS, conditioning, metadata_shift
from cimp.denoise.dose import at_target, standardise
from cimp.denoise.pairs import dose_pairs
from cimp.denoise.unet import FiLMUNet, UNetConfig
from cimp.device import resolve_device
from cimp.embeddings import embed_metadata
from cimp.errors import CimpError
from cimp.optim import set_lr
from cimp.progress import Bar
from cimp.run import FILES as RUN_FILES
from cimp.run import Run
from cimp.store import Store


@dataclass
class Crops:
    """One batch: source crops, what is asked of them, and the target crops if known."""

    low: torch.Tensor  # (B, 1, c, c) model units
    cond: torch.Tensor  # (B, 2E + 1)
    ratio: torch.Tensor  # (B,)
    high: torch.Tensor | None = None
    target_meta: torch.Tensor | None = None  # (B, E) metadata embedding of the target

    def to(self, device) -> Crops:
        parts = (self.low, self.cond, self.ratio, self.high, self.target_meta)
        return Crops(*(None if t is None else t.to(device) for t in parts))


def train_denoiser(cfg: DenoiserConfig, show_progress: bool = True) -> Path:
    """Train, save and return DRUN; the CIMP run stays frozen."""
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    run = Run(cfg.run)
    encoder, normalizer = run.load_model(device), run.normalizer
    encoder.requires_grad_(False)
    crop = encoder.config.crop
    data = _training_data(cfg, encoder, normalizer, crop)
    table, images, train_pairs, val_pairs = data.table, data.images, data.train, data.val
    singles, shift = data.singles, data.shift
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    unet = FiLMUNet(UNetConfig(cond_dim=2 * encoder.config.embed_dim + 1, widths=cfg.widths))
    unet.to(device)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=0.0)
    config = {
        "unet": unet.config.to_dict(),
        "train": asdict(cfg),
        "cimp": {"run": str(run.path.resolve()), "weights": run.weights_id},
        "pairs": {
            "train": len(train_pairs),
            "val": len(val_pairs),
            "ratio_range": _ratio_range(train_pairs, cfg),
        },
    }
    _copy_run(Path(cfg.run), out / "cimp")
    log = (out / "log.jsonl").open("w")
    started = time.perf_counter()
    with Bar("train denoiser", cfg.steps, enabled=show_progress) as bar:
        for step in range(1, cfg.steps + 1):
            set_lr(optimizer, cfg.lr, step - 1, cfg.steps)
            loss = torch.zeros((), device=device)
            if cfg.pair_weight > 0:
                picks = rng.integers(len(train_pairs), size=cfg.batch_size)
                part = train_pairs.iloc[picks]
                batch = _pair_crops(encoder, images, part, shift["train"][picks], crop, rng)
                loss = loss + cfg.pair_weight * pair_loss(unet, batch.to(device))
            if cfg.self_weight > 0:
                picks = rng.choice(singles, size=cfg.batch_size)
                batch = _self_crops(encoder, normalizer, table, images, picks, crop, cfg, rng)
                loss = loss + cfg.self_weight * self_loss(unet, encoder, batch.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimizer.step()
            entry = {"step": step, "loss": loss.item()}
            if len(val_pairs) and (step % cfg.val_every == 0 or step == cfg.steps):
                entry["val_loss"] = validate(unet, encoder, images, val_pairs, shift["val"], crop)
            log.write(json.dumps(entry) + "\n")
            log.flush()
            note = f"loss {entry['loss']:.3f}" + (
                f" val {entry['val_loss']:.3f}" if "val_loss" in entry else ""
            )
            bar.advance(note=note)
    log.close()
    config["seconds"] = round(time.perf_counter() - started, 1)
    save_weights(unet, out / "unet.safetensors")
    write_json(out / "config.json", config)
    return out


@dataclass
class TrainingData:
    """The dataset's rows, the images used, the pairs by split and their metadata shifts."""

    table: pd.DataFrame
    images: dict[int, np.ndarray]
    train: pd.DataFrame
    val: pd.DataFrame
    singles: np.ndarray  # train rows for the self-supervised signal
    shift: dict[str, np.ndarray]


def _training_data(cfg: DenoiserConfig, encoder, normalizer, crop: int) -> TrainingData:
    """Rows at least `crop` px, their dose pairs, and the images either signal needs."""
    store = Store(cfg.dataset)
    table = store.table()
    table = table[views.fits(table, crop)].reset_index(drop=True)
    pairs = dose_pairs(table)
    train = pairs[pairs["split"] == "train"].reset_index(drop=True)
    val = pairs[pairs["split"] == "val"].reset_index(drop=True)
    singles = np.flatnonzero((table["split"] == "train").to_numpy())
    if cfg.pair_weight <= 0 and cfg.self_weight <= 0:
        raise CimpError("both training signals are off: give a pair or a self weight above 0")
    if cfg.pair_weight > 0 and train.empty:
        raise CimpError(
            f"{cfg.dataset} holds no dose pairs (same session, higher dose) of at least {crop} px"
            " in its train split; make some with `cimp simulate --pairs`, or train"
            " self-supervised only (pair weight 0, self weight > 0)"
        )
    if cfg.self_weight > 0 and singles.size == 0:
        raise CimpError(f"{cfg.dataset} holds no train image of at least {crop} px")
    needed = set(
        np.concatenate([train[["low", "high"]].values.ravel(), val[["low", "high"]].values.ravel()])
    )
    if cfg.self_weight > 0:
        needed |= set(singles)
    images = {i: store.image(table.at[i, "image_id"]) for i in sorted(needed)}
    shift = {
        name: metadata_shift(encoder, normalizer, table.iloc[part["low"]], table.iloc[part["high"]])
        for name, part in (("train", train), ("val", val))
    }
    return TrainingData(table, images, train, val, singles, shift)


def _ratio_range(pairs: pd.DataFrame, cfg: DenoiserConfig) -> list[float]:
    """The dose ratios the denoiser learned from: its pairs', and its self-supervised ones."""
    ratios = [float(r) for r in pairs["ratio"]] if cfg.pair_weight > 0 else []
    if cfg.self_weight > 0:
        ratios += [2.0, cfg.max_self_ratio]
    return [min(ratios, default=1.0), max(ratios, default=1.0)]


def _copy_run(run: Path, to: Path) -> None:
    to.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (run / name).exists():  # domain.json: not in runs made before it was recorded
            shutil.copy2(run / name, to / name)


def _crop(
    image: np.ndarray,
    scale: float,
    top: int,
    left: int,
    size: int,
    flip: bool,
    clipped: float = 0.0,
) -> np.ndarray:
    """A crop in model units, flipped top to bottom if asked (the scan's fast axis is kept);
    with `clipped` NaN, pixels at the ends of an integer range (saturated) become NaN."""
    raw = image[top : top + size, left : left + size]
    part = raw.astype(np.float32) * np.float32(scale)
    if clipped != 0.0 and image.dtype.kind in "ui":
        part[(raw == np.iinfo(image.dtype).max) | (raw == 0)] = clipped
    return part[::-1] if flip else part


def _pair_crops(encoder, images, pairs: pd.DataFrame, shift, size, rng) -> Crops:
    k = encoder.config.intensity_scale
    low, high = [], []
    for lo, hi in zip(pairs["low"], pairs["high"], strict=True):
        h, w = images[lo].shape
        top, left, flip = rng.integers(h - size + 1), rng.integers(w - size + 1), rng.random() < 0.5
        low.append(_crop(images[lo], k, top, left, size, flip))
        high.append(_crop(images[hi], k, top, left, size, flip, clipped=np.nan))
    low_t = torch.from_numpy(np.stack(low)[:, None].copy())
    ratio = pairs["ratio"].to_numpy(dtype=np.float32)
    device = next(encoder.parameters()).device
    cond = conditioning(encoder, low_t.to(device), shift, ratio)
    high_t = torch.from_numpy(np.stack(high)[:, None].copy())
    return Crops(low_t, cond, torch.from_numpy(ratio), high_t)


def _self_crops(encoder, normalizer, table, images, rows, size, cfg, rng) -> Crops:
    k = encoder.config.intensity_scale
    crops = []
    for i in rows:
        h, w = images[i].shape
        top, left = rng.integers(h - size + 1), rng.integers(w - size + 1)
        crops.append(_crop(images[i], k, top, left, size, rng.random() < 0.5))
    ratio = np.exp(rng.uniform(np.log(2.0), np.log(cfg.max_self_ratio), size=len(rows)))
    source = table.iloc[rows].reset_index(drop=True)
    target = source.copy()
    which = rng.integers(len(DOSE_FIELDS), size=len(rows))
    for j, name in enumerate(DOSE_FIELDS):
        target.loc[which == j, name] = source.loc[which == j, name] * ratio[which == j]
    low = torch.from_numpy(np.stack(crops)[:, None].copy())
    device = next(encoder.parameters()).device
    e_source = embed_metadata(encoder, normalizer, source)
    e_target = embed_metadata(encoder, normalizer, target)
    cond = conditioning(encoder, low.to(device), e_target - e_source, ratio)
    ratio_t = torch.from_numpy(ratio.astype(np.float32))
    return Crops(low, cond, ratio_t, None, torch.from_numpy(e_target))


def predict(unet: FiLMUNet, low: torch.Tensor, cond: torch.Tensor, ratio: torch.Tensor):
    """(image at the target dose, clean image at the source dose, per-image std of `low`)."""
    z, mean, std = standardise(low)
    clean = mean + std * unet(z, cond)
    black = mean + std * unet.black_level(cond, mean, std).view_as(mean)
    return at_target(clean, black, ratio), clean, std


def pair_loss(unet: FiLMUNet, b: Crops) -> torch.Tensor:
    """Squared error to the high-dose image (its clipped pixels, NaN, left out), per crop in
    units of the larger of the two images' spreads at the target level, then softened
    (2 (sqrt(1 + mse) - 1)) so that a crop with next to no signal cannot swamp the batch."""
    y, _, std = predict(unet, b.low, b.cond, b.ratio)
    known = torch.isfinite(b.high)
    high = torch.where(known, b.high, y.detach())
    count = known.sum(dim=(1, 2, 3)).clamp_min(1)
    high_mean = high.sum(dim=(1, 2, 3), keepdim=True) / count.view(-1, 1, 1, 1)
    high_std = (((high - high_mean) * known).square().sum(dim=(1, 2, 3)) / count).sqrt()
    scale = torch.maximum(b.ratio * std.flatten(), high_std).clamp_min(1e-6)
    mse = ((y - high) * known).square().sum(dim=(1, 2, 3)) / count / scale.square()
    return (2 * ((1 + mse).sqrt() - 1)).mean()


def self_loss(unet: FiLMUNet, encoder, b: Crops) -> torch.Tensor:
    """1 - cos(output's image embedding, target's metadata embedding), plus the binned
    consistency of the clean image with the input, in units of the binned noise variance."""
    y, clean, std = predict(unet, b.low, b.cond, b.ratio)
    agreement = (encoder.encode_image(y) * b.target_meta).sum(dim=1).mean()
    z = standardise(b.low)[0]
    noise = (z - F.avg_pool2d(z, 3, 1, 1, count_include_pad=False)).square().mean() * 9 / 8
    binned = F.avg_pool2d((clean - b.low) / std, 4).square().mean()
    return (1 - agreement) + binned / (noise / 16)


@torch.no_grad()
def validate(unet, encoder, images, pairs: pd.DataFrame, shift, size, limit: int = 64) -> float:
    """The pair loss on centre crops of (up to `limit`) validation pairs."""
    k = encoder.config.intensity_scale
    pairs, shift = pairs.iloc[:limit], shift[:limit]
    low, high = [], []
    for lo, hi in zip(pairs["low"], pairs["high"], strict=True):
        h, w = images[lo].shape
        top, left = (h - size) // 2, (w - size) // 2
        low.append(_crop(images[lo], k, top, left, size, False))
        high.append(_crop(images[hi], k, top, left, size, False, clipped=np.nan))
    device = next(unet.parameters()).device
    low_t = torch.from_numpy(np.stack(low)[:, None]).to(device)
    ratio = pairs["ratio"].to_numpy(dtype=np.float32)
    cond = conditioning(encoder, low_t, shift, ratio)
    batch = Crops(low_t, cond, torch.from_numpy(ratio).to(device))
    batch.high = torch.from_numpy(np.stack(high)[:, None]).to(device)
    return float(pair_loss(unet, batch))
