"""Contrastive pre-training: one loop, CPU or CUDA, one process or many (torchrun).

Read top to bottom: set up, build data and model, then the step loop with validation and
checkpoints. Resuming restores weights, optimizer moments and the step; the data order and
every crop depend only on (seed, step), so a resumed run continues exactly.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from cimp import run as runs
from cimp import schema
from cimp.atomic import write_json
from cimp.checkpoint import load_state, load_weights, save_state, save_weights
from cimp.config import TrainConfig
from cimp.data import CropDataset, StepSampler, collate, intensity_scale
from cimp.device import resolve_device
from cimp.domain import Domain
from cimp.errors import CimpError
from cimp.loss import info_nce, siglip
from cimp.model import CIMP
from cimp.optim import param_groups, set_lr
from cimp.progress import Bar
from cimp.retrieval import embed, retrieval
from cimp.store import Store


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); starts the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def train(
    cfg: TrainConfig,
    resume: bool = False,
    show_progress: bool = True,
    stop_after: int | None = None,
) -> Path:
    """Train and return the run folder. `stop_after` ends early (as a kill would)."""
    rank, world, local_rank = _distributed()
    device = resolve_device(cfg.device, local_rank)
    torch.manual_seed(cfg.seed)
    run = Path(cfg.out)
    if resume and not (run / runs.STATE).exists():
        raise CimpError(f"nothing to resume in {run} (no {runs.STATE})")
    if not resume and (run / runs.WEIGHTS).exists():
        raise CimpError(f"{run} already holds a run: pass --resume, or another --out")
    previous = runs.Run(run) if resume else None

    store = Store(cfg.dataset)
    table = store.table()
    train_table = table[table["split"] == "train"]
    if previous is not None:
        normalizer, model_config = previous.normalizer, previous.config.model
    else:
        normalizer = schema.Normalizer.fit(train_table, cfg.fields)
        model_config = cfg.model_config(normalizer, intensity_scale(store, train_table))
    scale = model_config.intensity_scale
    train_set = CropDataset(
        store,
        train_table,
        normalizer,
        cfg.crop,
        train=True,
        field_dropout=cfg.field_dropout,
        scale=scale,
    )
    val_set = CropDataset(store, table[table["split"] == "val"], normalizer, cfg.crop, scale=scale)

    model = CIMP(model_config).to(device)
    model.logit_bias.requires_grad_(cfg.loss == "siglip")  # DDP wants every trained param used
    optimizer = torch.optim.AdamW(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6
    )
    start = 0
    if resume:
        load_weights(model, run / runs.WEIGHTS)
        start = load_state(run / runs.STATE, optimizer)
    elif rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        normalizer.save(run / runs.NORMALIZER)
        Domain.fit(store, train_table, model_config.intensity_scale).save(run / runs.DOMAIN)
        saved = asdict(cfg) | {"dataset": str(Path(cfg.dataset).resolve())}
        write_json(run / runs.CONFIG, {"train": saved, "model": model.config.to_dict()})
    net = DistributedDataParallel(model) if world > 1 else model

    sampler = StepSampler(
        len(train_set), cfg.batch_size, cfg.steps, cfg.seed, start=start, rank=rank, world=world
    )
    loader = DataLoader(
        train_set,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=cfg.workers,
        pin_memory=device.type == "cuda",
    )
    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=cfg.amp and device.type == "cuda"
    )
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    clock = _Clock()
    batches = iter(loader)
    with Bar("train", cfg.steps, show_progress and rank == 0) as bar:
        bar.advance(start)
        for step in range(start, end):
            with clock.waiting():
                batch = next(batches, None)
            if batch is None:
                break
            net.train()
            batch = batch.to(device)
            set_lr(optimizer, cfg.lr, step, cfg.steps, warmup=cfg.warmup)
            with autocast:
                image, meta = net(batch)
                loss = _loss(cfg, model, image.float(), meta.float(), values=batch.values)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0.0, math.log(100.0))
            clock.seen += len(batch.image) * world
            bar.advance(note=f"loss {loss.item():.3f}  {clock.rate():.0f} img/s")
            done = step + 1
            if rank == 0 and (done % cfg.val_every == 0 or done == cfg.steps) and len(val_set):
                with clock.paused():
                    scores = retrieval(*embed(model, val_set, device))
                _log(run, done, loss.item(), clock, scores=scores)
            if rank == 0 and (done % cfg.checkpoint_every == 0 or done in (end, cfg.steps)):
                with clock.paused():
                    save_weights(model, run / runs.WEIGHTS)
                    save_state(run / runs.STATE, optimizer, done)
    if world > 1:
        dist.barrier()
    return run


def _loss(cfg: TrainConfig, model: CIMP, image, meta, *, values):
    if cfg.loss == "siglip":
        return siglip(
            image,
            meta,
            model.logit_scale,
            model.logit_bias,
            targets=values,
            positive_radius=cfg.positive_radius,
        )
    return info_nce(image, meta, model.logit_scale, values, positive_radius=cfg.positive_radius)


class _Clock:
    """Training throughput: end to end, and of the model alone (time waiting for the data
    loader left out); validation and checkpoints are left out of both."""

    def __init__(self, now: Callable[[], float] = time.perf_counter):
        self.now = now
        self.seen, self.waited, self.skipped = 0, 0.0, 0.0
        self.start = now()

    @contextmanager
    def waiting(self):
        t = self.now()
        yield
        self.waited += self.now() - t

    @contextmanager
    def paused(self):
        t = self.now()
        yield
        self.skipped += self.now() - t

    def rate(self, model_only: bool = False) -> float:
        elapsed = self.now() - self.start - self.skipped
        return self.seen / max(elapsed - (self.waited if model_only else 0.0), 1e-9)


def _log(run: Path, step: int, loss: float, clock: _Clock, *, scores: dict) -> None:
    line = {"step": step, "loss": round(loss, 5), "images_per_s": round(clock.rate(), 1),
            "model_images_per_s": round(clock.rate(model_only=True), 1), **scores}  # fmt: skip
    with open(run / runs.LOG, "a") as f:
        f.write(json.dumps(line) + "\n")
