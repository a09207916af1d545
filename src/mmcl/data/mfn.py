"""MFN / Graph-MFN feature folders: one HDF5 file per array and split.

    FOLDER/{audio,video,text_emb,y}_{train,valid,test}.h5

Each file holds one dataset `d1` (float64): features (N, L, D) per modality, labels (N, K).
The modalities are named audio, vision (from video) and text (from text_emb); the files
store no lengths, so every step counts (as in MulT pickles). With K > 1 label columns (POM
has 17 traits) one column is chosen with `label_column`.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from mmcl.data.csd import read_hdf5
from mmcl.data.dataset import SPLITS, DataError, Dataset, TaskSpec, check_dataset, make_split
from mmcl.data.presets import detect_regression_preset, get_preset
from mmcl.limits import Budget

MODALITIES = {"audio": "audio", "video": "vision", "text_emb": "text"}


def is_mfn_folder(path: Path) -> bool:
    return path.is_dir() and (path / "y_train.h5").is_file()


def is_mfn_file(path: Path) -> bool:
    """An HDF5 file whose only content is a dataset 'd1' (one MFN array)."""
    try:
        with h5py.File(path, "r") as f:
            return list(f.keys()) == ["d1"] and isinstance(f["d1"], h5py.Dataset)
    except OSError:
        return False


def _array(path: Path, budget: Budget) -> np.ndarray:
    return read_hdf5(path, _d1, "MFN array file", budget)


def _d1(f: h5py.File, path: Path) -> np.ndarray:
    d1 = f.get("d1")
    if not isinstance(d1, h5py.Dataset):
        raise DataError(f"{path}: no dataset 'd1' (an MFN file holds one); has {list(f)}.")
    return np.asarray(d1)


def read_mfn_folder(
    path: str | Path, preset: str | None = None, label_column: int | None = None
) -> Dataset:
    path = Path(path)
    budget = Budget(path)
    labels = {}
    for s in SPLITS:
        f = path / f"y_{s}.h5"
        if not f.is_file():
            raise DataError(f"{f}: missing; an MFN folder holds y_{{train,valid,test}}.h5.")
        y = _array(f, budget)
        y = y.reshape(len(y), -1)
        k = y.shape[1]
        if label_column is None and k > 1:
            raise DataError(
                f"{f}: labels have {k} columns; choose one with --label-column 0..{k - 1} "
                "(e.g. `mmcl data convert FOLDER OUT --label-column 0`)."
            )
        column = label_column or 0
        if not 0 <= column < k:
            raise DataError(f"--label-column {column}: {f} has label columns 0..{k - 1}.")
        labels[s] = y[:, column].astype(np.float32)
    if preset is None:
        preset = detect_regression_preset(tuple(len(labels[s]) for s in SPLITS), labels["train"])
    task = get_preset(preset).task if preset else TaskSpec("regression", "regression")
    if task.kind != "regression":
        raise DataError(f"{path}: MFN labels are scores; preset '{preset}' is not regression.")
    cleaned: dict[str, int] = {}
    splits = {}
    for s in SPLITS:
        feats = {
            name: _array(path / f"{stem}_{s}.h5", budget).astype(np.float32, copy=False)
            for stem, name in MODALITIES.items()
            if (path / f"{stem}_{s}.h5").is_file()
        }
        where = f"{path} [{s}]"
        splits[s] = make_split(feats, labels[s], None, where, task, cleaned=cleaned, split_name=s)
    column = "" if label_column is None else f", label column {label_column}"
    ds = Dataset(
        splits, task, name=path.name, preset=preset, source=f"{path}{column}", cleaned=cleaned
    )
    return check_dataset(ds, str(path))
