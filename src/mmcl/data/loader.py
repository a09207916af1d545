"""`load_dataset`: one entry point that picks the reader from the file's content."""

from __future__ import annotations

import json
from pathlib import Path

from mmcl.data.csd import MAX_LEN, is_csd_folder, read_csd_folder
from mmcl.data.dataset import DataError, Dataset, TaskSpec
from mmcl.data.mfn import is_mfn_file, is_mfn_folder, read_mfn_folder
from mmcl.data.native import is_native, read_native
from mmcl.data.pickles import pickle_flavour, read_mmsa, read_mult
from mmcl.data.presets import get_preset
from mmcl.data.safe_pickle import safe_load

_PICKLE_OPENERS = (b"\x80", b"(", b"]", b"}")


def detect_format(path: Path) -> str:
    """'native', 'csd', 'mfn' or 'pickle', decided by what the path holds, not its name."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    if is_native(path):
        return "native"
    if is_csd_folder(path):
        return "csd"
    if is_mfn_folder(path):
        return "mfn"
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(8)
        if head.startswith(b"\x89HDF") and is_mfn_file(path):
            raise DataError(
                f"{path}: one array of an MFN/Graph-MFN feature folder (an HDF5 dataset 'd1'); "
                "pass the folder holding {audio,video,text_emb,y}_{train,valid,test}.h5."
            )
        if head.startswith(b"\x89HDF"):
            raise DataError(
                f"{path}: a single HDF5/.csd file; put the label and feature .csd files in one "
                "folder and pass the folder."
            )
        if head[:1] in _PICKLE_OPENERS:
            return "pickle"
    raise DataError(
        f"{path}: unrecognised data. Expected a native folder (with manifest.json), a folder of "
        ".csd files, an MFN feature folder (y_train.h5, ...), or an MMSA/MulT pickle."
    )


def load_dataset(
    path: str | Path,
    preset: str | None = None,
    csd_max_len: int | None = MAX_LEN,
    label_column: int | None = None,
) -> Dataset:
    """Read any supported dataset; `preset` overrides the detected task and metric set;
    `label_column` picks one column of multi-column labels (MFN folders); `csd_max_len`
    caps the frames per segment of .csd folders (None: no cap)."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "native":
        task: TaskSpec | None = get_preset(preset).task if preset else None
        ds = read_native(path, task=task)
        if preset:
            ds.preset = get_preset(preset).name
        return ds
    if fmt == "csd":
        return read_csd_folder(path, preset=preset, max_len=csd_max_len)
    if fmt == "mfn":
        return read_mfn_folder(path, preset=preset, label_column=label_column)
    obj = safe_load(path)
    flavour = pickle_flavour(obj)
    if flavour == "mmsa":
        return read_mmsa(obj, path, preset)
    if flavour == "mult":
        return read_mult(obj, path, preset)
    keys = (
        sorted(obj["train"])
        if isinstance(obj, dict) and isinstance(obj.get("train"), dict)
        else None
    )
    raise DataError(
        f"{path}: a pickle, but neither MMSA (split key 'regression_labels') nor MulT (split key "
        f"'labels'); train split keys: {keys}."
    )


def peek_modalities(spec: str | Path) -> list[str] | None:
    """The modalities a dataset holds, when that is known without loading it (native
    folders, 'synthetic'); None otherwise."""
    if str(spec) == "synthetic":
        from mmcl.data.synthetic import SynthConfig

        return list(SynthConfig().dims)
    path = Path(spec)
    if is_native(path):
        try:
            modalities = json.loads((path / "manifest.json").read_text())["modalities"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged manifest: loading the data will say what is wrong
        return list(modalities) if isinstance(modalities, dict) and modalities else None
    return None


def load_data(
    spec: str | Path,
    preset: str | None = None,
    label_column: int | None = None,
    csd_max_len: int | None = MAX_LEN,
) -> Dataset:
    """`spec` is a path, or 'synthetic' for the planted-signal data (`mmcl data synth`
    defaults, seed 0)."""
    if str(spec) == "synthetic":
        from mmcl.data.synthetic import make_synthetic

        ds = make_synthetic()
        if preset:
            ds.preset = get_preset(preset).name
            ds.task = get_preset(preset).task
        return ds
    return load_dataset(spec, preset, csd_max_len, label_column)
