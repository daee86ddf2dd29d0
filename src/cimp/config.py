"""What runs are made with: the model's configuration, the training settings (both saved in
RUN/config.json) and the denoiser's. A field the command line offers is declared with
`option`: its default and help live here alone, and `cimp.cli.options` builds the option
from them. Light on purpose: importing it loads neither torch nor pandas.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Literal, get_args

from cimp.errors import CimpError

Backbone = Literal["cnn", "vit"]
Loss = Literal["infonce", "siglip"]


def option(default=MISSING, help: str = "", *, flag: str | None = None, factory=None, repeat=False):
    """A field the command line offers as an option: its default, its help, its flag (a
    boolean's pair, e.g. "--bf16/--fp32", or another name) and, for a list, whether the
    option repeats (`--where a --where b`) rather than taking a comma-separated list."""
    metadata = (
        {"help": help} | ({"flag": flag} if flag else {}) | ({"repeat": True} if repeat else {})
    )
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


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
    steps: int = option(2000, "Optimizer steps.")
    batch_size: int = option(128, "Global batch (split over processes).")
    crop: int = option(128, "Square crop in pixels (never resized).")
    backbone: Backbone = option("cnn", "Image encoder: cnn or vit.")
    widths: list[int] = option(
        help="CNN stage widths, comma separated.", factory=lambda: [32, 64, 128, 256]
    )
    physics: bool = option(True, "Fuse each crop's physics statistics (cimp.physics) into the CNN.")
    lr: float = option(2e-3, "Peak learning rate (AdamW, cosine).")
    loss: Loss = option("infonce", "infonce or siglip.")
    positive_radius: float = option(
        0.0, "Treat pairs with metadata this close (z units) as positives."
    )
    field_dropout: float = option(0.15, "Chance of hiding each field.")
    val_every: int = option(250, "Steps between validations and checkpoints.")
    workers: int = option(0, "Data-loading processes.")
    seed: int = option(0, "Random seed.")
    device: str = option("auto", "auto, cpu, cuda, cuda:1 ...")
    embed_dim: int = 128
    weight_decay: float = 0.05
    warmup: int | None = None  # steps; None: cimp.optim.warmup_steps(steps)
    fields: list[str] = field(default_factory=_core_names)
    categorical: list[str] = field(default_factory=list)
    checkpoint_every: int = 250
    amp: bool = True  # bfloat16 autocast on CUDA; ignored on CPU

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
    twin: int = option(5000, "Digital-twin examples with noise-free targets (0: none).")
    sampling: Sampling = option(
        "both", "Twin settings: both (archive and uniform), archive or uniform."
    )
    archive_share: float = option(
        0.5, "With --sampling both: the share of twin cases from the archive."
    )
    size: int = option(128, "Twin image side (px).")
    # a multiple of the U-Net's grid: small crops give more steps in the time budget
    crop: int = option(64, "Training crop side (px).")
    steps: int | None = option(None, "Exactly this many optimizer steps (not --minutes).")
    minutes: float = option(50.0, "Without --steps: train this long, simulation included.")
    batch_size: int = option(16, "Crops per step.")
    widths: list[int] = option(
        help="U-Net level widths, comma separated.", factory=lambda: [32, 64, 128, 128]
    )
    lr: float = option(2e-3, "Peak learning rate (AdamW, cosine).")
    val_every: int = option(250, "Steps between validations.")
    seed: int = option(0, "Random seed.")
    resume: bool = option(False, "Go on from the U-Net already in --out (same widths).")
    device: str = option("auto", "auto, cpu, cuda, cuda:1 ...")
    bf16: bool = option(
        True,
        "Training steps in bfloat16 where the hardware has it (inference: float32).",
        flag="--bf16/--fp32",
    )

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


@dataclass
class SearchConfig:
    """What `cimp search` is asked: like what, within which filters, how many."""

    image: str | None = option(None, "Find images like this file's.")
    row: str | None = option(None, "Find images like this dataset row (image id or number).")
    settings: list[str] = option(
        help="Find images acquired at about field=value (repeatable).",
        factory=list,
        flag="--set",
        repeat=True,
    )
    where: list[str] = option(
        help="Only images whose recorded field passes, e.g. 'dwell_time>5us'.",
        factory=list,
        repeat=True,
    )
    k: int = option(10, "How many images to list.", flag="-k")
    sheet: str | None = option(None, "Write a contact sheet PNG here.")
    device: str = option("auto", "auto, cpu, cuda, cuda:1 ...")


@dataclass
class TransferConfig:
    """What `cimp denoise` is asked: the target dose and where and how to write it."""

    dwell_time: str | None = option(None, "Target dwell time: a factor (x4) or a value (20us).")
    beam_current: str | None = option(None, "Target beam current: a factor (x2) or a value (50pA).")
    out_dir: str | None = option(None, "Write here instead of beside each input.")
    output_format: str = option(
        "auto", "auto (the input's where possible), hspy or tiff.", flag="--format"
    )
    tile: int = option(512, "Tile side in pixels for large images.")
    preview: bool = option(
        False, "Also write <output>.preview.png: input, output, differences.", flag="--preview"
    )
    profile: str | None = option(
        None, "Instrument profile (cimp calibrate) for the detector's constants."
    )
    device: str = option("auto", "auto, cpu, cuda, cuda:1 ...")

    @property
    def changes(self) -> dict[str, str]:
        """The settings to change, as asked ({'dwell_time': 'x4'})."""
        asked = {"dwell_time": self.dwell_time, "beam_current": self.beam_current}
        return {name: value for name, value in asked.items() if value is not None}


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
