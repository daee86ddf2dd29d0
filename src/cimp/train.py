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
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from cimp import schema
from cimp.checkpoint import load_state, load_weights, save_state, save_weights, write_json
from cimp.data import CropDataset, StepSampler, collate, intensity_scale
from cimp.domain import FILE as DOMAIN_FILE
from cimp.domain import Domain
from cimp.errors import CimpError
from cimp.loss import info_nce, siglip
from cimp.model import CIMP, ModelConfig
from cimp.progress import Bar
from cimp.retrieval import embed, retrieval
from cimp.store import Store


@dataclass
class TrainConfig:
    """Training settings; saved as RUN/config.json with the model's own configuration."""

    dataset: str
    out: str
    backbone: str = "cnn"
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    physics: bool = True  # fuse cimp.physics statistics into the CNN
    embed_dim: int = 128
    crop: int = 128
    batch_size: int = 128
    steps: int = 2000
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 100
    loss: str = "infonce"  # or "siglip"
    positive_radius: float = 0.0  # metadata distance (z units) under which pairs are positives
    field_dropout: float = 0.15
    fields: list[str] = field(default_factory=lambda: list(schema.CORE_NAMES))
    categorical: list[str] = field(default_factory=list)
    val_every: int = 250
    checkpoint_every: int = 250
    seed: int = 0
    workers: int = 0
    amp: bool = True  # bfloat16 autocast on CUDA; ignored on CPU
    device: str = "auto"

    def model_config(self, normalizer: schema.Normalizer, scale: float) -> ModelConfig:
        return ModelConfig(
            fields=list(self.fields),
            categorical=[len(normalizer.categories.get(c, [])) for c in self.categorical],
            backbone=self.backbone,
            widths=list(self.widths),
            embed_dim=self.embed_dim,
            crop=self.crop,
            intensity_scale=scale,
            physics=self.physics and self.backbone == "cnn",
        )


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on 1-D parameters (biases, norms, temperature) or learned tokens."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        tokens = name.endswith(("cls", "pos", "missing"))
        (plain if p.ndim < 2 or tokens else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); starts the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """'auto' -> this process's GPU if there is one, else the CPU; anything else as given."""
    if choice != "auto":
        return torch.device(choice)
    return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")


def run_config(run: str | Path) -> dict:
    """A run's saved training and model configuration (no weights loaded)."""
    return json.loads((Path(run) / "config.json").read_text())


def trained_on(run: str | Path) -> Path:
    """The dataset a run was trained on (saved as an absolute path since it is recorded
    so; an older run's relative path is taken from the current folder)."""
    return Path(run_config(run)["train"]["dataset"]).resolve()


def load_run(run: str | Path, device="cpu") -> tuple[CIMP, schema.Normalizer, dict]:
    """A trained model (eval mode), its normaliser and its saved configuration."""
    run = Path(run)
    config = run_config(run)
    model = CIMP(ModelConfig(**config["model"]))
    load_weights(model, run / "model.safetensors")
    return model.to(device).eval(), schema.Normalizer.load(run / "normalizer.json"), config


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
    if resume and not (run / "state.safetensors").exists():
        raise CimpError(f"nothing to resume in {run} (no state.safetensors)")
    if not resume and (run / "model.safetensors").exists():
        raise CimpError(f"{run} already holds a run: pass --resume, or another --out")

    store = Store(cfg.dataset)
    table = store.table()
    train_table = table[table["split"] == "train"]
    normalizer = (
        schema.Normalizer.load(run / "normalizer.json")
        if resume
        else schema.Normalizer.fit(train_table, cfg.fields)
    )
    model_config = (
        ModelConfig(**run_config(run)["model"])
        if resume
        else cfg.model_config(normalizer, intensity_scale(store, train_table))
    )
    scale = model_config.intensity_scale
    train_set = CropDataset(
        store, train_table, normalizer, cfg.crop, True, cfg.field_dropout, scale=scale
    )
    val_set = CropDataset(store, table[table["split"] == "val"], normalizer, cfg.crop, scale=scale)

    model = CIMP(model_config).to(device)
    model.logit_bias.requires_grad_(cfg.loss == "siglip")  # DDP wants every trained param used
    optimizer = torch.optim.AdamW(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6
    )
    start = 0
    if resume:
        load_weights(model, run / "model.safetensors")
        start = load_state(run / "state.safetensors", optimizer)
    elif rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        normalizer.save(run / "normalizer.json")
        Domain.fit(store, train_table, model_config.intensity_scale).save(run / DOMAIN_FILE)
        saved = asdict(cfg) | {"dataset": str(Path(cfg.dataset).resolve())}
        write_json(run / "config.json", {"train": saved, "model": model.config.to_dict()})
    net = DistributedDataParallel(model) if world > 1 else model

    sampler = StepSampler(len(train_set), cfg.batch_size, cfg.steps, cfg.seed, start, rank, world)
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
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, cfg.warmup, cfg.steps)
            with autocast:
                image, meta = net(batch)
                loss = _loss(cfg, model, image.float(), meta.float(), batch.values)
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
                _log(run, done, loss.item(), clock, scores)
            if rank == 0 and (done % cfg.checkpoint_every == 0 or done in (end, cfg.steps)):
                with clock.paused():
                    save_weights(model, run / "model.safetensors")
                    save_state(run / "state.safetensors", optimizer, done)
    if world > 1:
        dist.barrier()
    return run


def _loss(cfg: TrainConfig, model: CIMP, image, meta, values):
    if cfg.loss == "infonce":
        return info_nce(image, meta, model.logit_scale, values, cfg.positive_radius)
    if cfg.loss == "siglip":
        return siglip(image, meta, model.logit_scale, model.logit_bias, values, cfg.positive_radius)
    raise CimpError(f"unknown loss {cfg.loss!r}: use 'infonce' or 'siglip'")


class _Clock:
    """Training throughput: end to end, and of the model alone (time waiting for the data
    loader left out); validation and checkpoints are left out of both."""

    def __init__(self):
        self.seen, self.waited, self.skipped = 0, 0.0, 0.0
        self.start = time.perf_counter()

    @contextmanager
    def waiting(self):
        t = time.perf_counter()
        yield
        self.waited += time.perf_counter() - t

    @contextmanager
    def paused(self):
        t = time.perf_counter()
        yield
        self.skipped += time.perf_counter() - t

    def rate(self, model_only: bool = False) -> float:
        elapsed = time.perf_counter() - self.start - self.skipped
        return self.seen / max(elapsed - (self.waited if model_only else 0.0), 1e-9)


def _log(run: Path, step: int, loss: float, clock: _Clock, scores: dict) -> None:
    line = {"step": step, "loss": round(loss, 5), "images_per_s": round(clock.rate(), 1),
            "model_images_per_s": round(clock.rate(model_only=True), 1), **scores}  # fmt: skip
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")
