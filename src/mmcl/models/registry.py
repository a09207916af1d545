"""Model names -> (config dataclass, model class). The CLI and trainer build models only here."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from mmcl.models.common import DataInfo, TaskModel
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
        raise ValueError(f"unknown model '{name}'; choose one of {sorted(MODELS)}.")
    cls = MODELS[name][0]
    known = {f.name: f for f in fields(cls)}
    values = dict(values or {})
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown {name} option(s) {unknown}; known: {sorted(known)}.")
    cfg = cls(**values)
    if hasattr(cfg, "validate"):
        cfg.validate()
    return cfg


def build_model(name: str, cfg: Any, info: DataInfo) -> TaskModel:
    return MODELS[name][1](cfg, info)
