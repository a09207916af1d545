"""Readers and writers for the pickles users already have: MMSA processed files and MulT files.

Both are `{"train", "valid", "test"}` dicts of per-split dicts of arrays; the keys inside a
split tell them apart (MMSA: `regression_labels`; MulT: `labels`). Loading always goes
through the restricted unpickler.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from mmcl.data.dataset import SPLITS, DataError, Dataset, TaskSpec, check_dataset, make_split
from mmcl.data.io import atomic_file
from mmcl.data.presets import IEMOCAP_EMOTIONS, detect_regression_preset, get_preset

MODALITIES = ("text", "audio", "vision")


def _split_dicts(obj: object, path: Path) -> dict[str, dict]:
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict of splits, found {type(obj).__name__}.")
    splits = {}
    for s in SPLITS:
        alias = "dev" if s == "valid" else s
        sp = obj.get(s, obj.get(alias))
        if sp is None:
            raise DataError(
                f"{path}: split '{s}' is missing; found {sorted(obj)}. "
                "Provide train, valid and test splits."
            )
        if not isinstance(sp, dict):
            raise DataError(f"{path}: split '{s}' is a {type(sp).__name__}, expected a dict.")
        splits[s] = sp
    return splits


def pickle_flavour(obj: object) -> str | None:
    """'mmsa', 'mult' or None, from the keys of the train split."""
    if not isinstance(obj, dict) or not isinstance(obj.get("train"), dict):
        return None
    keys = set(obj["train"])
    if "regression_labels" in keys:
        return "mmsa"
    if "labels" in keys:
        return "mult"
    return None


def _numeric(value: object, where: str, key: str, ndims: tuple[int, ...]) -> np.ndarray:
    """`value` as a numeric array with one of `ndims` dimensions, else a DataError naming
    the split and key (checked before any shape is read from it)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise DataError(f"{where}: key '{key}' is not an array ({e}).") from e
    if arr.dtype.kind not in "biuf" or arr.ndim not in ndims:
        raise DataError(
            f"{where}: key '{key}' must be a numeric array with {' or '.join(map(str, ndims))} "
            f"dimensions; found {arr.dtype} with shape {arr.shape}."
        )
    return arr


def _labels(
    splits: dict[str, dict], path: Path, key: str, ndims: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Every split's labels under `key`, checked numeric with one of `ndims` dimensions."""
    labels = {}
    for s, sp in splits.items():
        if key not in sp:
            raise DataError(f"{path} [{s}]: key '{key}' is missing.")
        labels[s] = _numeric(sp[key], f"{path} [{s}]", key, ndims)
    return labels


def _steps(value: object) -> int | None:
    """The step count (axis 1) of a (N, L, D) feature array, None for anything else."""
    shape = np.shape(value) if isinstance(value, np.ndarray) else ()
    return shape[1] if len(shape) == 3 else None


def _modalities_of(sp: dict, s: str, path: Path) -> dict[str, object]:
    feats = {m: sp[m] for m in MODALITIES if m in sp}
    if not feats:
        raise DataError(
            f"{path} [{s}]: no modality found; expected some of {list(MODALITIES)}, "
            f"found keys {sorted(sp)}."
        )
    return feats


def read_mmsa(obj: dict, path: Path, preset: str | None = None) -> Dataset:
    splits = _split_dicts(obj, path)
    train = splits["train"]
    uni_keys = {m: f"regression_labels_{m[0].upper()}" for m in MODALITIES}
    has_uni = all(k in train for k in uni_keys.values())
    labels = _labels(splits, path, "regression_labels", (1, 2))
    if preset is None:
        sizes = tuple(len(labels[s]) for s in SPLITS)
        preset = detect_regression_preset(sizes, labels["train"])
    task = get_preset(preset).task if preset else TaskSpec("regression", "regression")
    cleaned: dict[str, int] = {}
    out = {}
    for s, sp in splits.items():
        where = f"{path} [{s}]"
        feats = _modalities_of(sp, s, path)
        lengths: dict[str, object] = {}
        tokens = token_lengths = None
        if "text_bert" in sp:
            # text_bert is (N, 3, L): word-piece ids, attention mask, segment ids
            bert = _numeric(sp["text_bert"], where, "text_bert", (3,))
            if bert.shape[1] < 2 or not np.isfinite(bert).all():
                raise DataError(f"{where}: 'text_bert' must be (N, 3, L) finite ids and mask.")
            tokens, token_lengths = bert[:, 0, :].astype(np.int64), bert[:, 1, :].sum(axis=1)
            if "text" in feats and _steps(feats["text"]) == bert.shape[2]:
                lengths["text"] = token_lengths
        for m in ("audio", "vision"):
            if f"{m}_lengths" in sp:
                lengths[m] = sp[f"{m}_lengths"]
            elif m in feats and "text" in lengths and _steps(feats[m]) == _steps(feats["text"]):
                # aligned files: audio and vision share the text's word steps and padding
                lengths[m] = lengths["text"]
        uni = {m: sp[k] for m, k in uni_keys.items() if k in sp} if has_uni else None
        out[s] = make_split(
            feats,
            labels[s],
            sp.get("id"),
            where,
            task,
            lengths=lengths,
            raw_text=sp.get("raw_text"),
            unimodal_labels=uni,
            cleaned=cleaned,
            split_name=s,
            tokens=tokens,
            token_lengths=token_lengths,
        )
    ds = Dataset(out, task, name=path.stem, preset=preset, source=str(path), cleaned=cleaned)
    return check_dataset(ds, str(path))


def read_mult(obj: dict, path: Path, preset: str | None = None) -> Dataset:
    splits = _split_dicts(obj, path)
    labels = _labels(splits, path, "labels", (1, 2, 3))
    if preset is None:
        if labels["train"].ndim == 3 and labels["train"].shape[1:] == (4, 2):
            preset = "iemocap"
        else:
            sizes = tuple(len(labels[s]) for s in SPLITS)
            preset = detect_regression_preset(sizes, labels["train"])
    task = get_preset(preset).task if preset else TaskSpec("regression", "regression")
    cleaned: dict[str, int] = {}
    out = {}
    for s, sp in splits.items():
        ids = sp.get("id")
        if ids is not None:
            ids = np.asarray(ids)
            if ids.ndim == 2:  # MulT stores [video, start, end] rows
                ids = np.array(["_".join(map(str, row)) for row in ids])
        out[s] = make_split(
            _modalities_of(sp, s, path),
            labels[s],
            ids,
            f"{path} [{s}]",
            task,
            cleaned=cleaned,
            split_name=s,
        )
    ds = Dataset(out, task, name=path.stem, preset=preset, source=str(path), cleaned=cleaned)
    return check_dataset(ds, str(path))


def _atomic_pickle(obj: object, out: Path) -> Path:
    with atomic_file(out, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return out


def _require_tav(ds: Dataset, fmt: str) -> None:
    extra = [m for m in ds.modalities if m not in MODALITIES]
    if extra:
        raise DataError(
            f"the {fmt} format holds only the modalities {list(MODALITIES)}; "
            f"this dataset also has {extra}. Use --format native."
        )


def write_mmsa(ds: Dataset, out: str | Path) -> Path:
    """Write an MMSA-style processed pickle (regression tasks only)."""
    if ds.task.kind != "regression":
        raise DataError("the MMSA format holds regression labels only; use --format native.")
    _require_tav(ds, "MMSA")
    obj = {}
    for s, sp in ds.splits.items():
        d: dict[str, np.ndarray] = {
            "id": sp.ids.astype(object),
            "regression_labels": sp.labels.astype(np.float32),
        }
        if sp.raw_text is not None:
            d["raw_text"] = sp.raw_text.astype(object)
        for m, x in sp.features.items():
            d[m] = np.asarray(x, dtype=np.float32)
            if m == "text":
                n, length = x.shape[:2]
                bert = np.zeros((n, 3, length), dtype=np.int64)
                bert[:, 1, :] = np.arange(length)[None, :] < sp.lengths[m][:, None]
                if sp.tokens is not None and sp.tokens.shape[1] == length:
                    bert[:, 0, :] = sp.tokens
                d["text_bert"] = bert
            else:
                d[f"{m}_lengths"] = sp.lengths[m].astype(np.int64)
        for m, y in (sp.unimodal_labels or {}).items():
            d[f"regression_labels_{m[0].upper()}"] = y.astype(np.float32)
        obj[s] = d
    return _atomic_pickle(obj, Path(out))


def write_mult(ds: Dataset, out: str | Path) -> Path:
    """Write a MulT-style pickle. MulT stores no lengths: every step counts on reading back."""
    _require_tav(ds, "MulT")
    if ds.task.kind == "multilabel" and ds.task.label_names == IEMOCAP_EMOTIONS:
        to_labels = lambda y: np.eye(2, dtype=np.float32)[y]  # noqa: E731  (N, 4, 2) one-hot
    elif ds.task.kind == "regression":
        to_labels = lambda y: y.astype(np.float32).reshape(-1, 1, 1)  # noqa: E731
    else:
        raise DataError(
            "the MulT format holds regression or IEMOCAP 4-emotion labels only; "
            "use --format native."
        )
    obj = {
        s: {
            **{m: np.asarray(x, dtype=np.float32) for m, x in sp.features.items()},
            "labels": to_labels(sp.labels),
            "id": sp.ids.astype(object),
        }
        for s, sp in ds.splits.items()
    }
    return _atomic_pickle(obj, Path(out))
