"""Model names -> (config dataclass, model class). The CLI and trainer build models only here."""

from __future__ import annotations

import math
import types
from typing import Any, Union, get_args, get_origin, get_type_hints

import torch
from torch import nn

from mmcl.errors import UserError
from mmcl.limits import Budget
from mmcl.models.almt import ALMT, ALMTConfig
from mmcl.models.base import DataInfo, TaskModel
from mmcl.models.bert_mag import BertMAG, BertMAGConfig
from mmcl.models.cenet import CENET, CENETConfig
from mmcl.models.ef_lstm import EFLSTM, EFLSTMConfig
from mmcl.models.graph_mfn import GraphMFN, GraphMFNConfig
from mmcl.models.late_fusion import LateFusion, LateFusionConfig
from mmcl.models.lf_dnn import LFDNN, LFDNNConfig
from mmcl.models.lmf import LMF, LMFConfig
from mmcl.models.mctn import MCTN, MCTNConfig
from mmcl.models.mfm import MFM, MFMConfig
from mmcl.models.mfn import MFN, MFNConfig
from mmcl.models.misa import MISA, MISAConfig
from mmcl.models.mlf_dnn import MLFDNN, MLFDNNConfig
from mmcl.models.mlmf import MLMF, MLMFConfig
from mmcl.models.mmcl import MMCL, MMCLConfig
from mmcl.models.mmim import MMIM, MMIMConfig
from mmcl.models.mtfn import MTFN, MTFNConfig
from mmcl.models.mult import MulT, MulTConfig
from mmcl.models.self_mm import SelfMM, SelfMMConfig
from mmcl.models.shared_private_cov import SharedPrivateCov, SharedPrivateCovConfig
from mmcl.models.tetfn import TETFN, TETFNConfig
from mmcl.models.text_frontend import TEXT, TextFrontEnd, needs_tokens_error
from mmcl.models.tfn import TFN, TFNConfig
from mmcl.models.tfr_net import TFRNet, TFRNetConfig
from mmcl.models.unimodal import Unimodal, UnimodalConfig

MODELS: dict[str, tuple[type, type[TaskModel]]] = {
    "mmcl": (MMCLConfig, MMCL),
    "self_mm": (SelfMMConfig, SelfMM),
    "shared_private_cov": (SharedPrivateCovConfig, SharedPrivateCov),
    "late_fusion": (LateFusionConfig, LateFusion),
    "ef_lstm": (EFLSTMConfig, EFLSTM),
    "lf_dnn": (LFDNNConfig, LFDNN),
    "tfn": (TFNConfig, TFN),
    "lmf": (LMFConfig, LMF),
    "mfn": (MFNConfig, MFN),
    "graph_mfn": (GraphMFNConfig, GraphMFN),
    "mfm": (MFMConfig, MFM),
    "mctn": (MCTNConfig, MCTN),
    "mlf_dnn": (MLFDNNConfig, MLFDNN),
    "mtfn": (MTFNConfig, MTFN),
    "mlmf": (MLMFConfig, MLMF),
    "mult": (MulTConfig, MulT),
    "tfr_net": (TFRNetConfig, TFRNet),
    "misa": (MISAConfig, MISA),
    "bert_mag": (BertMAGConfig, BertMAG),
    "mmim": (MMIMConfig, MMIM),
    "cenet": (CENETConfig, CENET),
    "tetfn": (TETFNConfig, TETFN),
    "almt": (ALMTConfig, ALMT),
    "unimodal": (UnimodalConfig, Unimodal),
}


def _matches(value: Any, tp: Any) -> bool:
    """Whether a value read from TOML or --set has the annotated type `tp`."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp in (int, float):  # an int is a fine float (TOML `lr = 1`); a bool is neither
        return isinstance(value, int if tp is int else int | float) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    return True  # anything else is left to the config's own validate()


def _type_name(tp: Any) -> str:
    if get_origin(tp) is None and hasattr(tp, "__name__"):
        return tp.__name__
    return str(tp).replace("typing.", "")


def typed_values(cls: type, values: dict[str, Any], section: str) -> dict[str, Any]:
    """`values` for the dataclass `cls`, each checked against its field's type; unknown
    keys and wrong types are refused naming `section.key`, what was given and what is
    expected."""
    hints = get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise UserError(f"unknown {section} option(s) {unknown}; known: {sorted(hints)}.")
    for key, value in values.items():
        if not _matches(value, hints[key]):
            raise UserError(
                f"{section}.{key} = {value!r} ({type(value).__name__}): expected "
                f"{_type_name(hints[key])}."
            )
    return {k: float(v) if hints[k] is float else v for k, v in values.items()}


# options that are counts of units, heads, layers or steps: at least 1
SIZES = {
    "hidden", "hiddens", "d_model", "n_heads", "layers", "kernel", "kernels", "ffn_dim",
    "post_dim", "lstm_hidden", "lstm_out", "post_fusion_dim", "text_out", "buffer_size",
    "ac_batch_size", "rank", "memsize", "att1_dim", "att2_dim", "gamma1_dim", "gamma2_dim",
    "out_dim", "post_dims", "inner_node_dim", "nn_dim",
    "zy_size", "fy_size", "z_sizes", "f_sizes", "z_size", "f_size",
    "hid_dim", "max_steps", "temporal_heads", "fusion_hiddens", "fusion_hidden",
    "fusion_layers", "cls_hidden", "mem_size", "lstm_hiddens", "ff_dim", "tokens", "heads",
    "head_dim", "ahl_heads",
}  # fmt: skip
# a model's parameters, their gradients and two Adam moments, float32
BYTES_PER_PARAMETER = 16


def check_ranges(cfg: Any, section: str) -> None:
    """Refuse values no model can use, naming `section.key`: sizes below 1, negative counts,
    non-finite numbers, dropout outside [0, 1), heads that do not divide the width."""
    for key, value in vars(cfg).items():
        values = value.values() if isinstance(value, dict) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            wrong = ""
            if isinstance(v, float) and not math.isfinite(v):
                wrong = "a finite number"
            elif key in SIZES and v < 1:
                wrong = "at least 1"
            elif "dropout" in key and not 0 <= v < 1:
                wrong = "a rate in [0, 1)"
            elif v < 0 and key != "label_bound":
                wrong = "0 or more"
            if wrong:
                raise UserError(f"{section}.{key} = {value!r}: expected {wrong}.")
    heads, width = getattr(cfg, "n_heads", None), getattr(cfg, "d_model", None)
    if heads and width and width % heads:
        raise UserError(
            f"{section}.d_model = {width} does not divide into {section}.n_heads = {heads} "
            "heads; choose a width that is a multiple of the heads."
        )


def parameter_count(name: str, cfg: Any, info: DataInfo) -> int:
    """The model's parameter count, built without memory (on PyTorch's meta device).
    Options the model's layers refuse (PyTorch's own checks) are a UserError."""
    try:
        with torch.device("meta"):
            probe = MODELS[name][1](cfg, info)
    except UserError:
        raise
    except (AssertionError, ValueError, RuntimeError, TypeError) as e:
        raise UserError(f"{name}: these options do not make a model ({e}).") from None
    return sum(p.numel() for p in probe.parameters())


def check_model_size(name: str, cfg: Any, info: DataInfo) -> None:
    """Count the model's parameters before anything is allocated; a model no larger than
    the same model at its published sizes (its config's defaults) always builds, a larger
    one is charged to the memory budget (what training its parameters takes)."""
    count = parameter_count(name, cfg, info)
    try:
        Budget(None, f"model '{name}'").charge(
            BYTES_PER_PARAMETER * count, f"training {count:,} parameters"
        )
    except UserError:
        # past the budget: only sizes larger than the published ones are refused (the
        # published model is built, on the meta device, only in this rare case)
        try:
            published = parameter_count(name, MODELS[name][0](), info)
        except UserError:
            published = 0
        if count > published:
            raise


def model_config(name: str, values: dict[str, Any] | None = None) -> Any:
    """The named model's config dataclass, with `values` applied (unknown keys refused)."""
    if name not in MODELS:
        raise UserError(f"unknown model '{name}'; choose one of {sorted(MODELS)}.")
    cls = MODELS[name][0]
    cfg = cls(**typed_values(cls, dict(values or {}), name))
    check_ranges(cfg, name)
    cfg.validate_text()
    if hasattr(cfg, "validate"):
        cfg.validate()
    return cfg


def text_model_path(cfg: Any) -> str | None:
    """The local text model a model config reads its text with (text_encoder =
    'transformer'), or None. The caller loads it (`mmcl.pretrained`) and hands it to
    `build_model`."""
    return cfg.text_model if getattr(cfg, "text_encoder", "features") == "transformer" else None


def check_fits(
    name: str,
    modalities: list[str],
    task_kind: str | None = None,
    unimodal_labels: list[str] | None = None,
) -> None:
    """Refuse, before anything is built or trained, data the model cannot take: too few or
    too many modalities, a classification task for a regression-only model, or (when
    `unimodal_labels` is known) a modality without its own label for a multi-task model."""
    cls = MODELS[name][1]
    if cls.needs_unimodal_labels and unimodal_labels is not None:
        missing = [m for m in modalities if m not in unimodal_labels]
        if missing:
            raise UserError(
                f"{name} is multi-task: it needs a label per modality (unimodal labels, as "
                f"CH-SIMS has), and this data has none for {missing}. Use data with "
                "unimodal labels (an MMSA pickle with regression_labels_T/A/V, or "
                "`mmcl data synth --unimodal-labels`), or a single-task model."
            )
    n = len(modalities)
    wrong = []
    if n < cls.min_modalities:
        wrong.append(f"needs at least {cls.min_modalities} modalities")
    if cls.max_modalities is not None and n > cls.max_modalities:
        wrong.append(f"takes at most {cls.max_modalities} modality")
    if cls.regression_only and task_kind not in (None, "regression"):
        wrong.append(f"needs a regression task (this data is {task_kind})")
    if cls.needs_text and TEXT not in modalities:
        wrong.append("needs a text modality")
    if wrong:
        fits = sorted(
            m
            for m, (_, c) in MODELS.items()
            if c.min_modalities <= n <= (c.max_modalities or n)
            and not (c.regression_only and task_kind not in (None, "regression"))
            and not (c.needs_text and TEXT not in modalities)
        )
        raise UserError(
            f"{name} {' and '.join(wrong)}, because {cls.why}; the data has {modalities}. "
            f"Models that take it: {', '.join(fits)}."
        )


def build_model(
    name: str, cfg: Any, info: DataInfo, text_backbone: nn.Module | None = None
) -> TaskModel:
    """The named model for data described by `info`; with text_encoder = 'transformer', its
    "text" modality is `text_backbone`'s hidden states over the data's token ids."""
    frontend = None
    if text_model_path(cfg) is not None:
        if text_backbone is None:
            raise TypeError("text_encoder = 'transformer' needs the loaded text_backbone.")
        if not info.token_len:
            raise needs_tokens_error(name)
        frontend = TextFrontEnd(
            text_backbone,
            cfg.text_finetune,
            cfg.text_train_layers,
            cfg.text_cache_mb,
            pooler_trains=getattr(cfg, "text_pooler", False),
        )
        info = info.with_modality(TEXT, frontend.out_dim, info.token_len)
    check_fits(name, info.modalities, info.task.kind, info.unimodal_labels)
    check_model_size(name, cfg, info)
    model = MODELS[name][1](cfg, info)
    if frontend is not None:
        model.text_frontend = frontend
    return model
