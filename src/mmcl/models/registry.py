"""Model names -> (config dataclass, model class). The CLI and trainer build models only here."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from torch import nn

from mmcl.errors import UserError
from mmcl.models.base import DataInfo, TaskModel
from mmcl.models.ef_lstm import EFLSTM, EFLSTMConfig
from mmcl.models.late_fusion import LateFusion, LateFusionConfig
from mmcl.models.misa import MISA, MISAConfig
from mmcl.models.mmcl import MMCL, MMCLConfig
from mmcl.models.mult import MulT, MulTConfig
from mmcl.models.self_mm import SelfMM, SelfMMConfig
from mmcl.models.shared_private_cov import SharedPrivateCov, SharedPrivateCovConfig
from mmcl.models.tfn import TFN, TFNConfig
from mmcl.models.unimodal import Unimodal, UnimodalConfig

MODELS: dict[str, tuple[type, type[TaskModel]]] = {
    "mmcl": (MMCLConfig, MMCL),
    "self_mm": (SelfMMConfig, SelfMM),
    "shared_private_cov": (SharedPrivateCovConfig, SharedPrivateCov),
    "late_fusion": (LateFusionConfig, LateFusion),
    "ef_lstm": (EFLSTMConfig, EFLSTM),
    "tfn": (TFNConfig, TFN),
    "mult": (MulTConfig, MulT),
    "misa": (MISAConfig, MISA),
    "unimodal": (UnimodalConfig, Unimodal),
}


def model_config(name: str, values: dict[str, Any] | None = None) -> Any:
    """The named model's config dataclass, with `values` applied (unknown keys refused)."""
    if name not in MODELS:
        raise UserError(f"unknown model '{name}'; choose one of {sorted(MODELS)}.")
    cls = MODELS[name][0]
    known = {f.name: f for f in fields(cls)}
    values = dict(values or {})
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(f"unknown {name} option(s) {unknown}; known: {sorted(known)}.")
    cfg = cls(**values)
    if hasattr(cfg, "validate"):
        cfg.validate()
    return cfg


def text_model_path(cfg: Any) -> str | None:
    """The local text model a model config fine-tunes (text_encoder = 'transformer'), or None.
    The caller loads it (`mmcl.pretrained`) and hands it to `build_model`."""
    return cfg.text_model if getattr(cfg, "text_encoder", "features") == "transformer" else None


def build_model(
    name: str, cfg: Any, info: DataInfo, text_backbone: nn.Module | None = None
) -> TaskModel:
    cls = MODELS[name][1]
    if text_model_path(cfg) is None:
        return cls(cfg, info)
    return cls(cfg, info, text_backbone=text_backbone)
