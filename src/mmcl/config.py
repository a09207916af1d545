"""Run configuration: typed dataclasses, TOML recipes, `--set key=value` overrides.

A recipe is TOML:

    model = "mmcl"
    preset = "iemocap"
    [train]
    epochs = 200
    [mmcl]            # a section named after the model holds its options
    d_model = 128

Overrides use the same dotted names: `--set train.lr=1e-3 --set mmcl.variant=reference`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mmcl.errors import UserError
from mmcl.models.base import PRECISIONS
from mmcl.models.registry import MODELS, check_ranges, model_config, typed_values


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-4
    weight_decay: float = 0.0
    optimizer: str = "adam"  # adam (weight decay as an L2 term, as MMSA's) | adamw (decoupled)
    adam_eps: float = 1e-8  # the main Adam's epsilon (MMSA's CENET sets 3e-8 on MOSI)
    grad_clip: float = 0.0  # max gradient norm (or value, see clip_by); 0 turns clipping off
    clip_by: str = "norm"  # norm: the gradients' total norm | value: each entry (as MISA)
    # optimiser step every `accumulate` batches on their summed gradients (MMSA's
    # update_epochs, 4 for Self-MM); the models' own updates still run every batch
    accumulate: int = 1
    # with accumulate > 1, MMSA's update_epochs loops (MulT, MISA, Self-MM, TETFN) differ in
    # two ways: they clip the running sum after every backward, and they never apply the
    # epoch's last, shorter group. clip_at: step (clip once, before the optimiser step) |
    # backward (after every batch's backward, as MMSA). accumulate_tail: step | drop (as MMSA)
    clip_at: str = "step"
    accumulate_tail: str = "step"
    on_nonfinite: str = "stop"  # NaN/inf loss or gradient: stop (named, exit 2) | skip the batch
    patience: int = 10  # epochs in which neither the selection metric nor the validation
    # loss improved before stopping; 0: never. Ties on the metric go to the lower loss.
    # plateau (ReduceLROnPlateau on validation loss) | warmup_cosine (per epoch: linear from
    # 0 over warmup_epochs, then a cosine over cosine_epochs, as MMSA's ALMT) | none
    scheduler: str = "plateau"
    plateau_patience: int = 5
    plateau_factor: float = 0.5
    warmup_epochs: float = 20.0
    cosine_epochs: float = 180.0
    # the models' own optimisers (MMCL's actor and critic), also on the validation loss
    extra_scheduler: str = "none"  # plateau | none
    extra_plateau_patience: int = 5
    extra_plateau_factor: float = 0.5
    selection_metric: str = ""  # default: the metric set's (e.g. Non0_acc_2 for MOSI)
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 leaves torch's default
    # z-score every input feature with the training split's statistics (unpadded steps);
    # the statistics are saved with the weights and applied at evaluation and prediction
    normalize: bool = False
    # regression: start the output bias at the training label mean, so training starts
    # from the constant predictor (matters when labels sit far from 0, e.g. MMMO's 1-5)
    init_output_bias: bool = True
    # arithmetic of the forward passes: fp32, or bf16 (torch.autocast: matmuls in bfloat16,
    # losses, optimiser state and metrics in float32), on CPU and CUDA alike
    precision: str = "fp32"
    device: str = "auto"  # auto (CUDA when present, else CPU) | cpu | cuda | cuda:N
    tensorboard: bool = False
    diagnostics: bool = True  # heatmaps of CSD weights and policy gates after training

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise UserError("train.epochs must be >= 1 and train.batch_size >= 2.")
        if self.on_nonfinite not in ("stop", "skip"):
            raise UserError(f"train.on_nonfinite = '{self.on_nonfinite}'; choose stop or skip.")
        if self.accumulate < 1:
            raise UserError(f"train.accumulate = {self.accumulate}; it must be at least 1.")
        if self.clip_by not in ("norm", "value"):
            raise UserError(f"train.clip_by = '{self.clip_by}'; choose norm or value.")
        if self.clip_at not in ("step", "backward"):
            raise UserError(f"train.clip_at = '{self.clip_at}'; choose step or backward.")
        if self.accumulate_tail not in ("step", "drop"):
            raise UserError(
                f"train.accumulate_tail = '{self.accumulate_tail}'; choose step or drop."
            )
        if self.scheduler not in ("plateau", "warmup_cosine", "none"):
            raise UserError(
                f"train.scheduler = '{self.scheduler}'; choose plateau, warmup_cosine or none."
            )
        if self.extra_scheduler not in ("plateau", "none"):
            raise UserError(
                f"train.extra_scheduler = '{self.extra_scheduler}'; choose plateau or none."
            )
        if self.optimizer not in ("adam", "adamw"):
            raise UserError(f"train.optimizer = '{self.optimizer}'; choose adam or adamw.")
        if self.scheduler == "warmup_cosine" and not (
            self.warmup_epochs > 0 and self.cosine_epochs > 0
        ):
            raise UserError("train.warmup_epochs and train.cosine_epochs must be positive.")
        for key in ("plateau_factor", "extra_plateau_factor"):
            if not 0 < getattr(self, key) < 1:
                raise UserError(f"train.{key} = {getattr(self, key)}; it must lie in (0, 1).")
        check_ranges(self, "train")
        for key in ("lr", "adam_eps"):
            if not getattr(self, key) > 0:
                raise UserError(
                    f"train.{key} = {getattr(self, key)}: it must be a positive, finite number."
                )
        if self.precision not in PRECISIONS:
            raise UserError(f"train.precision = '{self.precision}'; choose one of {PRECISIONS}.")


@dataclass
class _TopLevel:
    """The types of a config's top-level keys (for their check)."""

    data: str
    preset: str
    modalities: list[str]
    text_features: str


@dataclass
class RunConfig:
    model: str = "mmcl"
    data: str = "synthetic"
    preset: str = ""
    modalities: list[str] = field(default_factory=list)  # empty: all the data has
    # the text features the settings were chosen for: "bert" (768-d BERT states, e.g.
    # MMSA's files), "minilm" (384-d, `mmcl extract text`), or "" (any); training warns
    # when the data's text was made otherwise
    text_features: str = ""
    train: TrainConfig = field(default_factory=TrainConfig)
    model_options: dict[str, Any] = field(default_factory=dict)

    def model_cfg(self) -> Any:
        return model_config(self.model, self.model_options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "preset": self.preset,
            "modalities": list(self.modalities),
            "text_features": self.text_features,
            "train": asdict(self.train),
            self.model: asdict(self.model_cfg()),
        }

    def to_toml(self, comment: str = "") -> str:
        """The config as a recipe (`--recipe FILE` reads it back to the same config)."""
        lines = [f"# {line}" for line in comment.splitlines()]
        sections = []
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                sections += ["", f"[{key}]", *(f"{k} = {toml_value(v)}" for k, v in value.items())]
            else:
                lines.append(f"{key} = {toml_value(value)}")
        return "\n".join([*lines, *sections]) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        d = dict(d)
        model = d.pop("model", "mmcl")
        if model not in MODELS:
            raise UserError(f"unknown model '{model}'; choose one of {sorted(MODELS)}.")
        train = d.pop("train", {})
        options = d.pop(model, {})
        for section, value in (("train", train), (model, options)):
            if not isinstance(value, dict):
                raise UserError(f"'{section}' is a section of options, not {value!r}.")
        top = {"data", "preset", "modalities", "text_features"}
        stray = sorted(k for k in d if k not in top and k not in MODELS)
        if stray:
            raise UserError(
                f"unknown config key(s) {stray}; known: {sorted(top | {'train', model})}."
            )
        given = typed_values(_TopLevel, {k: d[k] for k in top if k in d}, "config")
        cfg = cls(
            model=model,
            data=given.get("data", "synthetic"),
            preset=given.get("preset", ""),
            modalities=list(given.get("modalities", [])),
            text_features=given.get("text_features", ""),
            train=TrainConfig(**typed_values(TrainConfig, train, "train")),
            model_options=dict(options),
        )
        cfg.train.validate()
        cfg.model_cfg()  # validates the model options
        return cfg


def recipe_path(name_or_path: str) -> Path:
    """A recipe file, or the name of one shipped in mmcl/recipes (e.g. 'iemocap_mmcl')."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = resources.files("mmcl.recipes").joinpath(f"{name_or_path}.toml")
    if shipped.is_file():
        return Path(str(shipped))
    raise UserError(
        f"--recipe '{name_or_path}': no such file or shipped recipe; shipped: {shipped_recipes()}."
    )


def shipped_recipes() -> list[str]:
    """The names of the recipes shipped in mmcl/recipes, sorted."""
    folder = resources.files("mmcl.recipes")
    return sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".toml"))


# a recipe, grid or search space is a page of settings; these bound what one may ask of us
MAX_TOML_BYTES = 1 << 20
MAX_DEPTH = 16  # nested tables and arrays in a value


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """TOML text (`where` names it in errors): refused when invalid, or nested deeper than
    MAX_DEPTH (Python's TOML reader recurses once per level)."""
    try:
        loaded = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{where}: not valid TOML ({e}).") from None
    except RecursionError:
        loaded = None
    if loaded is None or _depth(loaded) > MAX_DEPTH:
        raise UserError(f"{where}: nested more than {MAX_DEPTH} levels deep; flatten it.")
    return loaded


def read_toml(path: str | Path, option: str = "") -> dict[str, Any]:
    """A TOML file given as `option` (recipe, grid, search space), checked as `parse_toml`."""
    where = f"{option} {path}".strip()
    try:
        if Path(path).stat().st_size > MAX_TOML_BYTES:
            raise UserError(f"{where}: larger than {MAX_TOML_BYTES >> 20} MB; not a settings file.")
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{where}: not a readable TOML text file ({e}).") from None
    return parse_toml(text, where)


def toml_value(value: Any) -> str:
    """A Python value as a TOML literal, what `parse_value` reads back (`--set key=VALUE`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        # quoted keys: a modality name need not be a bare TOML key
        return (
            "{"
            + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items())
            + "}"
        )
    raise UserError(f"overrides: {value!r} ({type(value).__name__}) is not a config value.")


def parse_value(text: str) -> Any:
    """A TOML value ('1e-3', 'true', '[\"text\", \"audio\"]'), or the bare string."""
    try:
        return parse_toml(f"v = {text}", f"--set value {text[:80]!r}")["v"]
    except UserError:
        if text.lstrip().startswith(("[", "{")):
            raise
        return text


def apply_override(d: dict[str, Any], assignment: str) -> None:
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set '{assignment}': expected key=value, e.g. train.lr=1e-3.")
    parts = key.strip().split(".")
    node = d
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise UserError(f"--set '{assignment}': '{p}' is not a section.")
    node[parts[-1]] = parse_value(value.strip())


def resolve_config(
    recipe: str | None = None,
    model: str | None = None,
    data: str | None = None,
    epochs: int | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """Defaults <- base dict <- recipe <- explicit options <- --set overrides."""
    d: dict[str, Any] = dict(base or {})
    if recipe:
        loaded = read_toml(recipe_path(recipe), "--recipe")
        for k, v in loaded.items():
            d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    if model:
        d["model"] = model
    if data:
        d["data"] = data
    if epochs and isinstance(d.setdefault("train", {}), dict):  # else from_dict says why
        d["train"]["epochs"] = epochs
    for assignment in overrides or []:
        apply_override(d, assignment)
    return RunConfig.from_dict(d)
