"""What runs are made with: the model's configuration, the training settings (both saved in
RUN/config.json) and the denoiser's. The command line takes its defaults from here. Light
on purpose: importing it loads neither torch nor pandas.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Literal, get_args

from cimp.errors import CimpError

Backbone = Literal["cnn", "vit"]
Loss = Literal["infonce", "siglip"]


def default(kind, name: str):
    """A config class's default for one field (the factory's value for lists)."""
    spec = {f.name: f for f in fields(kind)}[name]
    return spec.default if spec.default_factory is MISSING else spec.default_factory()


def _core_names() -> list[str]:
    from cimp import schema

    return list(schema.CORE_NAMES)


@dataclass
class ModelConfig:
    """Everything needed to rebuild the model (saved as JSON beside its weights)."""

    fields: list[str]  # numeric fields the metadata encoder reads, in order
    categorical: list[int] = field(default_factory=list)  # vocabulary size of each categorical
    backbone: str = "cnn"  # "cnn" or "vit"
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    embed_dim: int = 128
    crop: int = 128
    meta_dim: int = 128
    meta_layers: int = 2
    vit_patch: int = 16
    vit_depth: int = 6
    intensity_scale: float = 1.0 / 65535  # counts -> model input, fixed per run (cimp.data)
    physics: bool = False  # fuse cimp.physics statistics into the CNN (absent: not fused)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    """Training settings; saved as RUN/config.json with the model's own configuration."""

    dataset: str
    out: str
    backbone: Backbone = "cnn"
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    physics: bool = True  # fuse cimp.physics statistics into the CNN
    embed_dim: int = 128
    crop: int = 128
    batch_size: int = 128
    steps: int = 2000
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int | None = None  # steps; None: cimp.optim.warmup_steps(steps)
    loss: Loss = "infonce"
    positive_radius: float = 0.0  # metadata distance (z units) under which pairs are positives
    field_dropout: float = 0.15
    fields: list[str] = field(default_factory=_core_names)
    categorical: list[str] = field(default_factory=list)
    val_every: int = 250
    checkpoint_every: int = 250
    seed: int = 0
    workers: int = 0
    amp: bool = True  # bfloat16 autocast on CUDA; ignored on CPU
    device: str = "auto"

    def __post_init__(self):
        """A mistake fails here, before a run folder is written."""
        for name, kind in (("backbone", Backbone), ("loss", Loss)):
            if getattr(self, name) not in get_args(kind):
                raise CimpError(f"{name} {getattr(self, name)!r}: use one of {get_args(kind)}")
        positive = ("steps", "batch_size", "crop", "embed_dim", "lr", "val_every")
        for name in positive:
            if not getattr(self, name) > 0:
                raise CimpError(f"{name} must be positive, not {getattr(self, name)}")
        if not self.widths or min(self.widths) < 1:
            raise CimpError(f"widths {self.widths}: one positive width per CNN stage")
        if not 0.0 <= self.field_dropout < 1.0:
            raise CimpError(f"field_dropout {self.field_dropout}: a chance in [0, 1)")
        if self.positive_radius < 0 or (self.warmup is not None and self.warmup < 0):
            raise CimpError("positive_radius and warmup cannot be negative")
        from cimp import schema

        unknown = [f for f in self.fields if f not in schema.BY_NAME]
        if unknown:
            raise CimpError(f"unknown fields {unknown}: see `cimp summary` for the field names")

    def model_config(self, normalizer, scale: float) -> ModelConfig:
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


Sampling = Literal["both", "archive", "uniform"]


@dataclass
class DenoiserConfig:
    """Settings of one denoiser training (saved in DRUN/config.json)."""

    run: str
    out: str
    dataset: str | None = (
        None  # dose pairs (same session, higher dose): the high image is the target
    )
    # the defaults are the dose benchmark's recipe: 50 minutes, simulation included
    twin: int = 5000  # digital-twin cases with a noise-free target (0: none)
    sampling: Sampling = "both"  # of the twin's settings (both: archive and uniform)
    archive_share: float = 0.5  # with sampling both: the share of twin cases from the archive
    size: int = 128  # twin images' side (px)
    # training crops' side (px), a multiple of the U-Net's grid: small crops give more
    # steps in the time budget at the same pixels a second
    crop: int = 64
    steps: int | None = None  # exactly this many; None: as many as fit in `minutes`
    minutes: float = 50.0  # wall-clock budget, simulation included, when no steps are given
    batch_size: int = 16
    lr: float = 2e-3
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 128])
    val_every: int = 250
    seed: int = 0
    resume: bool = False  # start from the U-Net in `out` (same widths) instead of from scratch
    device: str = "auto"
    # training steps in bfloat16 where the device computes it natively
    # (`device.bf16_native`); validation and inference run in float32
    bf16: bool = True

    def __post_init__(self):
        if self.sampling not in get_args(Sampling):
            raise CimpError(f"sampling {self.sampling!r}: use one of {get_args(Sampling)}")
        if not 0.0 <= self.archive_share <= 1.0:
            raise CimpError(f"archive_share {self.archive_share}: a share between 0 and 1")
        if self.twin < 0 or (self.twin == 0 and self.dataset is None):
            raise CimpError("nothing to train on: give a dataset of dose pairs and/or twin > 0")
        for name in ("steps", "minutes", "batch_size", "lr", "val_every", "size"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise CimpError(f"{name} must be positive, not {value}")
        grid = 2 ** len(self.widths)
        if not self.widths or min(self.widths) < 1:
            raise CimpError(f"widths {self.widths}: one positive width per U-Net level")
        if self.crop < grid or self.crop % grid:
            raise CimpError(f"crop {self.crop}: a multiple of {grid} (the U-Net's grid)")
        if self.twin and self.crop > self.size:
            raise CimpError(f"crop {self.crop} is larger than the twin's {self.size} px images")


@dataclass(frozen=True)
class RunConfig:
    """RUN/config.json, typed: the training settings and the model's configuration."""

    train: TrainConfig
    model: ModelConfig

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        """Keys a newer or older cimp wrote and this one does not know are passed over."""
        return cls(_known(TrainConfig, data["train"]), _known(ModelConfig, data["model"]))


def _known(kind, values: dict):
    names = {f.name for f in fields(kind)}
    return kind(**{k: v for k, v in values.items() if k in names})
