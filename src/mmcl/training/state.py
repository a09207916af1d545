"""Save and load nested training state (weights, optimisers, RNG, buffers) without pickle.

Tensors go to a safetensors file; everything else (numbers, strings, the nesting, dict key
types) to JSON beside it. Both are written to a temporary folder that is renamed into place,
so an interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mmcl.data.io import atomic_folder, give_umask, read_json

_TENSOR = "__tensor__"
_DICT = "__dict__"
_TUPLE = "__tuple__"


def _flatten(obj: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = path or "root"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        # keys keep their type (optimiser state is keyed by int)
        return {_DICT: [[k, _flatten(v, f"{path}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {_TUPLE: [_flatten(v, f"{path}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, f"{path}/{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot save a {type(obj).__name__} at '{path}' in training state.")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if _TENSOR in obj:
            return tensors[obj[_TENSOR]]
        if _DICT in obj:
            return {k: _unflatten(v, tensors) for k, v in obj[_DICT]}
        if _TUPLE in obj:
            return tuple(_unflatten(v, tensors) for v in obj[_TUPLE])
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_state(obj: dict[str, Any], folder: str | Path) -> Path:
    """Write `obj` (nested dicts/lists/tuples of tensors and plain values) to `folder`."""
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(obj, "", tensors)
    with atomic_folder(folder) as tmp:
        save_file(tensors, str(tmp / "tensors.safetensors"))
        give_umask(tmp / "tensors.safetensors")  # safetensors writes it private
        (tmp / "state.json").write_text(json.dumps(skeleton))
    return folder


def load_state(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    tensors = load_file(str(folder / "tensors.safetensors"))
    return _unflatten(read_json(folder / "state.json"), tensors)
