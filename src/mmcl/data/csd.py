"""CMU-MultimodalSDK computational sequences (`.csd`, HDF5), aligned to labelled segments.

A `.csd` file has one root group (the sequence name) with `data/<video>/features` (T x D)
and `data/<video>/intervals` (T x 2, seconds). A folder of them is one dataset: the file
whose root name mentions "label" gives one segment per row (`<video>_<row + 1>`, as MOSI
names them); every other file is a modality whose rows overlapping a segment's interval
become that segment's sequence. Folds: the standard MOSI folds when the videos are MOSI's,
otherwise a `folds.json` (`{"train": [video ids], "valid": [...], "test": [...]}`) in the folder.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TypeVar

import h5py
import numpy as np

from mmcl.data.dataset import SPLITS, DataError, Dataset, TaskSpec, check_dataset, make_split
from mmcl.data.presets import detect_regression_preset, get_preset
from mmcl.limits import Budget

T = TypeVar("T")


def is_csd_folder(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.csd"))


def _root(f: h5py.File, path: Path) -> h5py.Group:
    keys = list(f.keys())
    # a Dataset at the root (an MFN file's 'd1') is not a sequence: `in` on it would compare
    # values, not names
    if len(keys) != 1 or not isinstance(f[keys[0]], h5py.Group) or "data" not in f[keys[0]]:
        raise DataError(
            f"{path}: not a computational sequence (expected one root group holding 'data'; "
            f"found {keys})."
        )
    return f[keys[0]]


NUMERIC_KINDS = "biuf"


def read_hdf5(
    path: Path, read: Callable[[h5py.File, Path], T], what: str, budget: Budget | None = None
) -> T:
    """`read(file, path)` on the HDF5 file `path`, after `check_hdf5` has walked it; a damaged
    file is a DataError saying it is not a readable `what`."""
    budget = budget or Budget(path)
    try:
        with h5py.File(path, "r", locking=False) as f:
            check_hdf5(f, path, budget)
            return read(f, path)
    except DataError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError, SystemError) as e:
        # h5py reports damaged files as any of these, at any step of a read
        raise DataError(f"{path}: not a readable {what} ({e}).") from e


def check_hdf5(f: h5py.File, path: Path, budget: Budget) -> None:
    """Refuse, before any value is read, what would make HDF5 read outside this file or
    allocate past the budget: external and soft links, datasets stored in other files
    (external raw storage, virtual datasets), non-numeric dtypes; every dataset's decoded
    size (after decompression) is charged to `budget`."""

    links: list[tuple[str, object]] = []
    # collected first, checked after: an exception inside HDF5's own iteration comes out as
    # a SystemError
    f.visititems_links(lambda name, link: links.append((name, link)))
    for name, link in links:
        if isinstance(link, h5py.ExternalLink):
            raise DataError(
                f"{path}: '{name}' is a link to another file ({link.filename!r}); refused: a "
                "dataset file must hold its own data."
            )
        if not isinstance(link, h5py.HardLink):
            raise DataError(
                f"{path}: '{name}' is a soft link; refused: store the data itself there."
            )
        obj = f.get(name)
        if not isinstance(obj, h5py.Dataset):
            continue
        if obj.external or obj.is_virtual:
            raise DataError(
                f"{path}: dataset '{name}' keeps its values in other files (external storage "
                "or a virtual dataset); refused: a dataset file must hold its own data."
            )
        if obj.dtype.kind not in NUMERIC_KINDS:
            raise DataError(
                f"{path}: dataset '{name}' holds {obj.dtype} values, not numbers; refused."
            )
        size = math.prod(obj.shape) * obj.dtype.itemsize
        budget.charge(size, f"{path.name}: dataset '{name}' {obj.shape}")


def _read_sequences(
    path: Path, budget: Budget
) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    return read_hdf5(path, _sequences, "computational sequence", budget)


def _sequences(f: h5py.File, path: Path) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    root = _root(f, path)
    data = root["data"]
    if not isinstance(data, h5py.Group):
        raise DataError(f"{path}: 'data' is not a group of videos.")
    seqs = {}
    for vid, g in data.items():
        if not isinstance(g, h5py.Group) or "features" not in g or "intervals" not in g:
            raise DataError(f"{path}: video '{vid}' lacks 'features' or 'intervals'.")
        feats, iv = g["features"], g["intervals"]
        for name, d in (("features", feats), ("intervals", iv)):
            if not isinstance(d, h5py.Dataset) or d.ndim != 2:
                raise DataError(f"{path}: video '{vid}': '{name}' is not a 2-d array.")
        if iv.shape[1] != 2 or iv.shape[0] != feats.shape[0]:
            raise DataError(
                f"{path}: video '{vid}': intervals {iv.shape} do not pair with features "
                f"{feats.shape} (expected ({feats.shape[0]}, 2))."
            )
        seqs[vid] = (np.asarray(feats), np.asarray(iv, dtype=np.float64))
    return root.name.strip("/"), seqs


def mosi_folds() -> dict[str, list[str]]:
    text = resources.files("mmcl.data").joinpath("mosi_folds.json").read_text()
    return {s: v for s, v in json.loads(text).items() if s in SPLITS}


def _folds_for(path: Path, videos: set[str]) -> dict[str, list[str]]:
    custom = path / "folds.json"
    if custom.is_file():
        return _read_folds(custom)
    folds = mosi_folds()
    if videos <= set().union(*folds.values()):
        return folds
    raise DataError(
        f"{path}: the videos are not CMU-MOSI's, so the standard folds do not apply. Add a "
        "folds.json with train/valid/test lists of video ids to the folder."
    )


def _read_folds(custom: Path) -> dict[str, list[str]]:
    """A folds.json: {"train": [video ids], "valid": [...], "test": [...]}."""
    if custom.stat().st_size > 64 << 20:
        raise DataError(f"{custom}: larger than 64 MB; a folds file lists video ids only.")
    try:
        folds = json.loads(custom.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:
        raise DataError(f"{custom}: not valid JSON ({str(e)[:200]}).") from None
    expected = 'expected {"train": [video ids], "valid": [...], "test": [...]}'
    if not isinstance(folds, dict):
        raise DataError(f"{custom}: {expected}.")
    missing = [s for s in SPLITS if s not in folds]
    if missing:
        raise DataError(f"{custom}: lacks splits {missing}; {expected}.")
    for s in SPLITS:
        if not isinstance(folds[s], list) or not all(isinstance(v, str) for v in folds[s]):
            raise DataError(f"{custom}: '{s}' is not a list of video ids (strings); {expected}.")
    return {s: list(folds[s]) for s in SPLITS}


# frames kept per segment unless asked otherwise: one long segment at a frame rate of
# 100 Hz must not pad every sample of the split to its length (and exhaust memory)
MAX_LEN = 1000


def read_csd_folder(
    path: str | Path, preset: str | None = None, max_len: int | None = MAX_LEN
) -> Dataset:
    """Read every `.csd` in `path`; segments longer than `max_len` frames keep their first
    `max_len` (a warning counts them); `max_len=None` keeps every frame."""
    path = Path(path)
    budget = Budget(path)
    label_file, modal_files = None, {}
    for f in sorted(path.glob("*.csd")):
        name, seqs = _read_sequences(f, budget)
        if "label" in name.lower():
            if label_file is not None:
                raise DataError(
                    f"{path}: two label sequences ({label_file[0]}, {f.name}); keep one."
                )
            label_file = (f.name, seqs)
        else:
            key = f.stem.split("_")[-1].lower() if "_" in f.stem else f.stem.lower()
            modal_files[_modality_name(name, key)] = (f.name, seqs)
    if label_file is None:
        raise DataError(f"{path}: no label sequence (a .csd whose root name mentions 'label').")
    if not modal_files:
        raise DataError(f"{path}: no feature sequence besides the labels.")
    labels = label_file[1]
    folds = _folds_for(path, set(labels))
    segments = {s: [] for s in SPLITS}
    for s in SPLITS:
        for vid in folds[s]:
            if vid in labels:
                y, iv = labels[vid]
                segments[s] += [(vid, i, iv[i], float(y[i].reshape(-1)[0])) for i in range(len(y))]
    all_y = np.array([seg[3] for s in SPLITS for seg in segments[s]])
    if preset is None:
        sizes = tuple(len(segments[s]) for s in SPLITS)
        preset = detect_regression_preset(sizes, all_y)
    task = get_preset(preset).task if preset else TaskSpec("regression", "regression")
    cleaned: dict[str, int] = {}
    out = {}
    for s in SPLITS:
        feats, lens = {}, {}
        for m, (fname, seqs) in modal_files.items():
            feats[m], lens[m] = _align(segments[s], seqs, f"{path / fname}", max_len, budget)
        out[s] = make_split(
            feats,
            np.array([seg[3] for seg in segments[s]], dtype=np.float32),
            np.array([f"{seg[0]}_{seg[1] + 1}" for seg in segments[s]]),
            f"{path} [{s}]",
            task,
            lengths=lens,
            cleaned=cleaned,
            split_name=s,
        )
    ds = Dataset(out, task, name=path.name, preset=preset, source=str(path), cleaned=cleaned)
    return check_dataset(ds, str(path))


def _modality_name(root_name: str, fallback: str) -> str:
    low = root_name.lower()
    for m, hints in {
        "text": ("word", "glove", "bert", "text"),
        "audio": ("covarep", "opensmile", "audio", "acoustic"),
        "vision": ("facet", "openface", "vision", "visual"),
    }.items():
        if any(h in low for h in hints):
            return m
    return "".join(c for c in fallback if c.isalnum() or c in "_-") or "feature"


def _align(
    segments: list,
    seqs: dict[str, tuple[np.ndarray, np.ndarray]],
    where: str,
    max_len: int | None,
    budget: Budget,
) -> tuple[np.ndarray, np.ndarray]:
    """Stack, per segment, the feature rows whose interval overlaps the segment's interval."""
    rows = []
    dim = next(iter(seqs.values()))[0].shape[-1]
    for vid, _, (start, end), _ in segments:
        if vid not in seqs:
            raise DataError(f"{where}: video '{vid}' has labels but no features.")
        x, iv = seqs[vid]
        inside = (iv[:, 0] < end) & (iv[:, 1] > start)
        if start == end:  # zero-length segment: the frame that contains the instant
            inside = (iv[:, 0] <= start) & (iv[:, 1] >= end)
        rows.append(x[inside].reshape(-1, dim))
    length = max(1, max(len(r) for r in rows))
    if max_len and length > max_len:
        cut = sum(len(r) > max_len for r in rows)
        warnings.warn(
            f"{where}: {cut} segments longer than {max_len} frames (up to {length}) keep their "
            f"first {max_len}; raise the cap with --csd-max-len.",
            stacklevel=2,
        )
        length = max_len
    budget.charge(4.0 * len(rows) * length * dim, f"{where}: {len(rows)} padded segments")
    feats = np.zeros((len(rows), length, dim), dtype=np.float32)
    lens = np.zeros(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        k = min(len(r), length)
        feats[i, :k] = r[:k]
        lens[i] = k
    return feats, lens
