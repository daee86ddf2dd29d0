"""Training the dose-transfer U-Net on top of a frozen CIMP run.

    DRUN/
      config.json         U-Net, training settings, the CIMP run it reads (and its hash)
      unet.safetensors    the U-Net
      cimp/               a copy of the CIMP run's weights, config and normaliser
      log.jsonl           training and validation loss (`loss.transfer_loss`)

Two sources of examples, usable together. The digital twin (`twin` cases): a noisy image
and the noise-free image at the target settings, so the U-Net learns the clean image
itself. Dose pairs of a dataset (the same scene at a low and a higher dose, as a lab may
have): the high-dose image is the target, its noise zero-mean (Noise2Noise). The loss is
the benchmark's PSNR and SSIM per crop against the target (`loss`); every prediction goes
through the same physics as at inference (`render`), all but the blend with and the hold to
the input, which inference applies: the hold stops gradients where it acts, and the blend
in the loss makes training unstable.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cimp import views
from cimp.atomic import write_json
from cimp.checkpoint import load_weights, save_weights
from cimp.config import DenoiserConfig
from cimp.denoise.condition import PHYSICS, condition_rows, physics
from cimp.denoise.electrons import calibrate
from cimp.denoise.loss import transfer_loss, transfer_score
from cimp.denoise.pairs import dose_pairs
from cimp.denoise.render import Noise, correct, finish, level
from cimp.denoise.structure import GRID, PER_BIN, StructureGain, fit, shrunk, signal_to_noise
from cimp.denoise.twin import RATIOS, twin_cases
from cimp.denoise.unet import FiLMUNet, UNetConfig
from cimp.denoise.wiener import unet_inputs
from cimp.device import bf16_autocast, bf16_native, resolve_device
from cimp.errors import CimpError
from cimp.instrument.detector import UINT16_MAX
from cimp.instrument.profile import default as default_profile
from cimp.optim import MAX_WARMUP, TimeBudget, set_lr, warmup_steps
from cimp.progress import Bar
from cimp.run import FILES as RUN_FILES
from cimp.run import Run
from cimp.store import Store

VAL_SEED = 100_000  # the twin's validation cases: seed + this
FIT_SEED = 200_000  # the twin's cases the structure gain is fitted on (`structure`): seed + this
FIT_CASES = 256  # of them at most (a tenth of the twin), all at doses drawn from twin.DOSES
MIN_FIT = 4 * PER_BIN  # twin cases below which no gain is fitted (one bin: one gain for all)
# a fit case costs this many validation cases (21 gains scored on it), as timed on a CPU
FIT_COST = 3.0
LOW_DOSES = 0.5  # share of twin cases at a dose drawn from twin.DOSES
MAX_FAILED = 50  # steps in a row without a finite loss and gradient: the training stops
# validation loss (dB) this far above its best: the training collapsed (a U-Net can die
# mid-training and not recover): it goes on from the weights of its best validation, with
# the optimiser's moments reset, and those weights are saved if it ends collapsed
COLLAPSED = 3.0


@dataclass
class Examples:
    """Images in electrons, their targets (electrons at the source's level, NaN where not
    known), conditioning, noise models, stabilised levels and the detector's top."""

    electrons: list[torch.Tensor]  # (inputs, H, W) each: `wiener.unet_inputs`
    targets: list[torch.Tensor]
    cond: torch.Tensor  # (N, D)
    noise: Noise
    level: torch.Tensor  # (N,)
    top: torch.Tensor  # (N,) the target's saturation, in the targets' electrons

    def __len__(self) -> int:
        return len(self.electrons)

    @classmethod
    def join(cls, parts: list[Examples]) -> Examples:
        noise = Noise(*(torch.cat([getattr(p.noise, f) for p in parts]) for f in Noise.FIELDS))
        return cls(
            [e for p in parts for e in p.electrons],
            [t for p in parts for t in p.targets],
            torch.cat([p.cond for p in parts]),
            noise,
            torch.cat([p.level for p in parts]),
            torch.cat([p.top for p in parts]),
        )


def examples(encoder, normalizer, images, sources, *, targets, wanted, ratios, clipped) -> Examples:
    """Examples, each with the channels the U-Net reads, from source images (counts), target images
    (counts at the target dose), their metadata and dose ratios; `clipped` flags targets
    whose zeros are clipped (their value unknown). Targets are scored as the detector
    records them, saturated at its top: the loss clips the prediction there too."""
    detector = default_profile().detector
    cals = [calibrate(s, i, detector) for s, i in zip(sources, images, strict=True)]
    electrons, goals, rows, tops = [], [], [], []
    for image, target, cal, source, goal, ratio, clip in zip(
        images, targets, cals, sources, wanted, ratios, clipped, strict=True
    ):
        e = cal.electrons(image.astype(np.float32))
        t = cal.electrons(target.astype(np.float32)) / ratio
        tops.append(cal.electrons(UINT16_MAX) / ratio)
        if clip:
            t[target == 0] = np.nan
        channels = unet_inputs(e, cal)
        electrons.append(torch.from_numpy(channels))
        goals.append(torch.from_numpy(t.astype(np.float32))[None])
        dwell_ratio = goal["dwell_time"] / source["dwell_time"]
        rows.append(physics(ratio, dwell_ratio, float(np.mean(e)), cal.floor))
    cond = condition_rows(encoder, normalizer, images, sources, targets=wanted, physics_rows=rows)
    noise = Noise.of(cals)
    levels = torch.stack([level(noise[[i]], e[None, :1])[0] for i, e in enumerate(electrons)])
    return Examples(electrons, goals, cond, noise, levels, torch.tensor(tops).float())


def train_denoiser(cfg: DenoiserConfig, show_progress: bool = True) -> Path:
    """Train, save and return DRUN; the CIMP run stays frozen. Without `cfg.steps`, as many
    steps as fit in `cfg.minutes` (`optim.TimeBudget`)."""
    started = time.perf_counter()
    budget = None if cfg.steps else TimeBudget(60.0 * cfg.minutes, started)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    run = Run(cfg.run)
    encoder, normalizer = run.load_model(device), run.normalizer
    encoder.requires_grad_(False)
    out = Path(cfg.out)
    cond_dim = 2 * encoder.config.embed_dim + PHYSICS
    unet = FiLMUNet(UNetConfig(cond_dim=cond_dim, widths=cfg.widths))
    done = _resume(unet, out) if cfg.resume else 0
    data = _training_data(cfg, encoder, normalizer, show_progress=show_progress)
    _, _, fitting, about = data
    unet.to(device, memory_format=torch.channels_last)  # faster convolutions on a CPU
    out.mkdir(parents=True, exist_ok=True)
    _copy_run(Path(cfg.run), out / "cimp")
    loop = Loop(cfg, unet, device, budget, done=done)
    loop.run(data, rng, out / "log.jsonl", show_progress)
    kept = loop.best.restore_if_collapsed(unet, done + loop.step)
    gain = fit_structure_gain(unet, fitting, device) if fitting is not None else None
    config = {
        "unet": unet.config.to_dict(),
        "structure_gain": gain.to_dict() if gain is not None else None,
        "train": asdict(cfg) | {"steps": loop.step},
        "cimp": {"run": str(run.path.resolve()), "weights": run.weights_id},
        "examples": about,
        "steps_done": done + loop.step,
        "kept_step": kept,  # whose weights were saved (not the last: the training collapsed)
        "precision": "bfloat16" if cfg.bf16 and bf16_native(device) else "float32",
        "seconds": round(time.perf_counter() - loop.started, 1),
    }
    save_weights(unet, out / "unet.safetensors")
    write_json(out / "config.json", config)
    return out


class Loop:
    """The training steps of one U-Net: AdamW on the transfer loss, validation every
    `val_every` steps with a rewind on a collapse, and the total planned by the time budget
    (none: `cfg.steps`) once the warm-up has shown the pace."""

    def __init__(self, cfg: DenoiserConfig, unet, device, budget: TimeBudget | None, *, done: int):
        self.cfg, self.unet, self.device, self.budget, self.done = cfg, unet, device, budget, done
        self.optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=0.0)
        self.total = cfg.steps  # None: planned by the budget after the warm-up
        self.warmup = MAX_WARMUP if budget else warmup_steps(cfg.steps)
        self.started, self.step, self.failed, self.val_seconds = time.perf_counter(), 0, 0, 0.0
        self.best = Best()

    def run(self, data, rng: np.random.Generator, log_path: Path, show_progress: bool) -> None:
        """Steps until the total; each logged to `log_path` (appended to on a resume)."""
        train, val, fitting, _ = data
        cfg = self.cfg
        with (
            log_path.open("a" if cfg.resume else "w") as log,
            Bar("train denoiser", self.total, enabled=show_progress) as bar,
        ):
            while self.total is None or self.step < self.total:
                self.step += 1
                batch = _batch(train, rng.integers(len(train), size=cfg.batch_size), cfg.crop, rng)
                entry = self.train_step(batch)
                if self.budget is not None and self.budget.due(self.step, self.warmup):
                    self.plan(val, fitting)
                    bar.set_total(self.total)
                if val is not None and (self.step % cfg.val_every == 0 or self.step == self.total):
                    self.validate(val, entry)
                log.write(json.dumps(entry) + "\n")
                log.flush()
                val_note = f" val {entry['val_loss']:.2f}" if "val_loss" in entry else ""
                bar.advance(note=f"-PSNR {entry['loss']:.2f}{val_note}")

    def train_step(self, batch) -> dict:
        """One optimizer step on `batch`; its log entry. Too many steps in a row without a
        finite loss and gradient stop the training."""
        cfg, unet, optimizer = self.cfg, self.unet, self.optimizer
        set_lr(optimizer, cfg.lr, self.step - 1, self.total or self.warmup, warmup=self.warmup)
        with bf16_autocast(self.device, cfg.bf16):
            loss = transfer_loss(unet, *(t.to(self.device) for t in batch))
        optimizer.zero_grad(set_to_none=True)
        updated = _step(optimizer, unet, loss)
        self.failed = 0 if updated else self.failed + 1
        if self.failed == MAX_FAILED:
            raise CimpError(
                f"training diverged: no finite loss or gradient for {MAX_FAILED} steps "
                f"in a row, up to step {self.done + self.step}; no U-Net was saved. Try a "
                "lower --lr"
            )
        entry = {"step": self.done + self.step, "loss": round(loss.item(), 4)}
        if not updated:
            entry["skipped"] = True
        return entry

    def plan(self, val, fitting) -> None:
        """The total steps that fit the budget, leaving time for what follows the last
        step: a validation and the structure gain's fit (a pass per case)."""
        fit_cost = FIT_COST * len(fitting) / len(val) if fitting is not None else 0.0
        after = self.val_seconds * (1 + fit_cost)
        self.total = self.budget.total(self.step, self.started, reserve=after)

    def validate(self, val, entry: dict) -> None:
        """The validation loss into `entry`; a collapsed training goes back to its best."""
        before = time.perf_counter()
        entry["val_loss"] = round(validate(self.unet, val, self.device), 4)
        self.val_seconds = time.perf_counter() - before
        self.best.see(self.unet, entry["val_loss"], self.done + self.step)
        if self.best.collapsed:  # a dead net learns nothing more: back to the best
            entry["rewound_to"] = self.best.restore(self.unet)
            self.optimizer.state.clear()


class Best:
    """The weights of the lowest validation loss seen, and their step."""

    def __init__(self):
        self.loss, self.step, self.weights, self.last = np.inf, 0, None, np.inf

    def see(self, unet: FiLMUNet, loss: float, step: int) -> None:
        self.last = loss
        if loss < self.loss:
            self.loss, self.step = loss, step
            self.weights = {k: v.detach().clone() for k, v in unet.state_dict().items()}

    @property
    def collapsed(self) -> bool:
        """Whether the last validation lies COLLAPSED above the best."""
        return self.weights is not None and self.last > self.loss + COLLAPSED

    def restore(self, unet: FiLMUNet) -> int:
        """Load the best weights into `unet`; their step."""
        unet.load_state_dict(self.weights)
        return self.step

    def restore_if_collapsed(self, unet: FiLMUNet, step: int) -> int:
        """The step whose weights `unet` holds: its best's where the last validation lies
        COLLAPSED above the best (loaded back), else `step`."""
        return self.restore(unet) if self.collapsed else step


def _step(optimizer, unet: FiLMUNet, loss: torch.Tensor) -> bool:
    """One update from `loss`, its gradient clipped to norm 1; none (False) where the loss or
    the gradient is not finite, so one bad batch cannot spoil the weights."""
    if not torch.isfinite(loss):
        return False
    loss.backward()
    if not torch.isfinite(torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)):
        optimizer.zero_grad(set_to_none=True)
        return False
    optimizer.step()
    return True


def _resume(unet: FiLMUNet, out: Path) -> int:
    """Load the U-Net of an earlier training in `out`; the steps it had done."""
    if not (out / "unet.safetensors").exists():
        raise CimpError(f"--resume: {out} holds no trained denoiser to go on from")
    earlier = json.loads((out / "config.json").read_text())
    saved = UNetConfig.saved(earlier["unet"])
    if saved != unet.config:
        asked = unet.config.to_dict()
        differs = "; ".join(
            f"{name} {value} (asked: {asked[name]})"
            for name, value in saved.to_dict().items()
            if value != asked[name]
        )
        raise CimpError(f"--resume: {out}'s U-Net differs from the one asked for: {differs}")
    load_weights(unet, out / "unet.safetensors")
    return int(earlier.get("steps_done", earlier["train"]["steps"]))


def _training_data(cfg: DenoiserConfig, encoder, normalizer, *, show_progress):
    """(train examples, validation examples or None, the twin's examples the structure gain
    is fitted on or None, what they are)."""
    train, val, fitting, about = [], [], None, {}
    if cfg.twin:
        cases = _twin(cfg.seed, cfg.twin, cfg, show_progress)
        held = _twin(cfg.seed + VAL_SEED, min(64, max(cfg.twin // 10, 4)), cfg, False)
        train.append(twin_examples(encoder, normalizer, cases))
        val.append(twin_examples(encoder, normalizer, held))
        fitting = fitting_examples(cfg, encoder, normalizer)
        about["twin"] = {
            "cases": cfg.twin,
            "sampling": cfg.sampling,
            "archive_share": cfg.archive_share if cfg.sampling == "both" else None,
            "size": cfg.size,
            "ratio_range": list(RATIOS),
            "low_dose_share": LOW_DOSES,
        }
    if cfg.dataset is not None:
        pairs, held, ratios = _pair_examples(cfg.dataset, encoder, normalizer, crop=cfg.crop)
        train.append(pairs)
        val.append(held)
        about["pairs"] = {"dataset": cfg.dataset, "ratio_range": ratios}
    train, val = [p for p in train if p is not None], [p for p in val if p is not None]
    if not train:
        raise CimpError(f"{cfg.dataset}: its dose pairs are all in other splits than train")
    return Examples.join(train), Examples.join(val) if val else None, fitting, about


def fitting_examples(cfg: DenoiserConfig, encoder, normalizer):
    """The twin's examples the structure gain is fitted on (a tenth of the twin, MIN_FIT to
    FIT_CASES, all at doses drawn from twin.DOSES), or None under MIN_FIT twin cases."""
    if cfg.twin < MIN_FIT:
        return None
    n = min(FIT_CASES, max(cfg.twin // 10, MIN_FIT))
    cases = _twin(cfg.seed + FIT_SEED, n, cfg, False, low_dose_share=1.0)
    return twin_examples(encoder, normalizer, cases)


def _twin(seed: int, n: int, cfg: DenoiserConfig, show_progress: bool, *, low_dose_share=LOW_DOSES):
    """n twin cases of cfg.sampling (both: cfg.archive_share of them archive, then the rest
    uniform), `low_dose_share` of them at doses drawn from twin.DOSES."""
    if cfg.sampling == "both":
        archive = int(n * cfg.archive_share + 0.5)  # half up: an odd n's extra case, as before
        kinds = {"archive": archive, "uniform": n - archive}
    else:
        kinds = {cfg.sampling: n}
    return [
        case
        for kind, count in kinds.items()
        if count
        for case in twin_cases(
            seed, count, cfg.size, kind, show_progress=show_progress, low_dose_share=low_dose_share
        )
    ]


def twin_examples(encoder, normalizer, cases) -> Examples:
    """`examples` of twin cases (`twin.TwinCase`): the noise-free image is the target."""
    return examples(
        encoder,
        normalizer,
        [c.image for c in cases],
        [c.source for c in cases],
        targets=[c.truth for c in cases],
        wanted=[c.target for c in cases],
        ratios=[c.ratio for c in cases],
        clipped=[False] * len(cases),
    )


def _pair_examples(dataset: str, encoder, normalizer, *, crop: int):
    """Train and validation examples of a dataset's dose pairs, and their ratio range."""
    store = Store(dataset)
    table = store.table()
    table = table[views.fits(table, max(crop, encoder.config.crop))].reset_index(drop=True)
    pairs = dose_pairs(table)
    if pairs.empty:
        raise CimpError(
            f"{dataset} holds no dose pairs (same session, higher dose) of at least {crop} px;"
            " make some with `cimp simulate --pairs`, or train on the twin alone"
        )
    out = {}
    for split in ("train", "val"):
        part = pairs[pairs["split"] == split]
        lows, highs = table.iloc[part["low"]], table.iloc[part["high"]]
        out[split] = (
            examples(
                encoder,
                normalizer,
                [store.image(i) for i in lows["image_id"]],
                lows.to_dict("records"),
                targets=[store.image(i) for i in highs["image_id"]],
                wanted=highs.to_dict("records"),
                ratios=part["ratio"].tolist(),
                clipped=[True] * len(part),
            )
            if len(part)
            else None
        )
    return out["train"], out["val"], [float(pairs["ratio"].min()), float(pairs["ratio"].max())]


def _copy_run(run: Path, to: Path) -> None:
    to.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (run / name).exists():  # domain.json: a run may record none
            shutil.copy2(run / name, to / name)


def _batch(data: Examples, rows, crop: int, rng):
    """Random crops (corners on the 4 px block grid, flipped top to bottom at random: the
    scan's fast axis and its response keep their direction)."""
    electrons, targets = [], []
    for i in rows:
        e, t = data.electrons[i], data.targets[i]
        h, w = e.shape[-2:]
        top = 4 * rng.integers((h - crop) // 4 + 1)
        left = 4 * rng.integers((w - crop) // 4 + 1)
        window = (slice(None), slice(top, top + crop), slice(left, left + crop))
        flip = rng.random() < 0.5
        electrons.append(e[window].flip(-2) if flip else e[window])
        targets.append(t[window].flip(-2) if flip else t[window])
    rows = torch.as_tensor(rows)
    return (
        torch.stack(electrons).contiguous(memory_format=torch.channels_last),
        torch.stack(targets),
        data.cond[rows],
        data.level[rows],
        data.noise[rows],
        data.top[rows],
    )


@torch.no_grad()
def validate(unet, val: Examples, device, limit: int = 64) -> float:
    """The loss on whole validation images (cut to the U-Net's grid), one at a time."""
    losses = [
        float(transfer_loss(unet, *_whole(val, i, unet.config.multiple, device)))
        for i in range(min(len(val), limit))
    ]
    return float(np.mean(losses))


@torch.no_grad()
def fit_structure_gain(unet, data: Examples, device) -> StructureGain:
    """The structure gain (`structure.fit`) of `unet` on the whole images of `data`: each
    scored at every gain of the grid against its truth."""
    gains = torch.tensor(GRID, dtype=torch.float32, device=device).view(-1, 1, 1, 1)
    scores, snr = [], []
    for i in range(len(data)):
        e, t, cond, levels, noise, top = _whole(data, i, unet.config.multiple, device)
        clean = finish(correct(unet, e, cond, noise, mean=levels), noise)
        score, scored = transfer_score(
            shrunk(clean, gains, finish(e[:, 1:2], noise)),
            t.expand(len(gains), -1, -1, -1),
            top.expand(len(gains)),
        )
        scores.append(torch.where(scored, score, torch.nan).cpu().numpy())
        snr.append(signal_to_noise(clean, float(noise.slope), float(noise.floor)))
    return fit(np.array(scores), np.array(snr))


def _whole(data: Examples, i: int, grid: int, device) -> tuple:
    """Example i whole, cut to the U-Net's `grid`, on `device`: `transfer_loss`'s arguments."""
    e, t = data.electrons[i], data.targets[i]
    h, w = (s // grid * grid for s in e.shape[-2:])
    rows = torch.tensor([i])
    parts = (e[None, :, :h, :w], t[None, :, :h, :w], data.cond[rows], data.level[rows])
    return tuple(p.to(device) for p in (*parts, data.noise[rows], data.top[rows]))
