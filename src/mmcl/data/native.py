"""The native format: a folder with `manifest.json` and one `.npy` file per array per split.

    OUT/manifest.json            modalities, widths, task, split sizes, provenance
    OUT/<split>/features.<m>.npy  float32 (N, L_m, D_m)
    OUT/<split>/lengths.<m>.npy   int64 (N,)
    OUT/<split>/labels.npy        task-dependent, see TaskSpec
    OUT/<split>/ids.npy           unicode (N,)
    OUT/<split>/raw_text.npy      unicode (N,), optional
    OUT/<split>/unimodal.<m>.npy  float32 (N,), optional (CH-SIMS T/A/V labels)
    OUT/<split>/tokens.npy        int64 (N, L_tok), optional, with token_lengths.npy (N,)

Plain `.npy` rather than `.npz` because `.npy` files memory-map (`np.load(mmap_mode="r")`),
so a large dataset costs no RAM until a batch touches it; nothing here is a pickle.
"""

from __future__ import annotations

import json
import re
import tokenize
from pathlib import Path

import numpy as np

from mmcl.data.dataset import SPLITS, DataError, Dataset, TaskSpec, check_dataset, make_split
from mmcl.data.io import atomic_folder

FORMAT = "mmcl-native"
VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def is_native(path: Path) -> bool:
    return path.is_dir() and (path / "manifest.json").is_file()


def write_native(ds: Dataset, out: str | Path, overwrite: bool = False) -> Path:
    """Write `ds` to folder `out` atomically (a temp folder renamed into place)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DataError(f"{out}: exists and is not empty. Choose another --out or remove it.")
    for m in ds.modalities:
        if not _NAME.match(m):
            raise DataError(f"modality name '{m}' must be letters, digits, '_' or '-'.")
    with atomic_folder(out) as tmp:
        for s, sp in ds.splits.items():
            d = tmp / s
            d.mkdir()
            for m, x in sp.features.items():
                np.save(d / f"features.{m}.npy", np.ascontiguousarray(x, dtype=np.float32))
                np.save(d / f"lengths.{m}.npy", sp.lengths[m].astype(np.int64))
            np.save(d / "labels.npy", sp.labels)
            np.save(d / "ids.npy", sp.ids.astype(str))
            if sp.raw_text is not None:
                np.save(d / "raw_text.npy", sp.raw_text.astype(str))
            for m, y in (sp.unimodal_labels or {}).items():
                np.save(d / f"unimodal.{m}.npy", y)
            if sp.tokens is not None:
                np.save(d / "tokens.npy", sp.tokens)
                np.save(d / "token_lengths.npy", sp.token_lengths)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "name": ds.name,
            "preset": ds.preset,
            "task": ds.task.to_dict(),
            "modalities": {
                m: {"dim": ds.dims()[m], "seq_len": ds.seq_lens()[m]} for m in ds.modalities
            },
            "splits": {s: len(sp) for s, sp in ds.splits.items()},
            "unimodal_labels": sorted(ds.splits["train"].unimodal_labels or {}),
            "source": ds.source,
            "extraction": ds.extraction,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def read_native(path: str | Path, task: TaskSpec | None = None, mmap: bool = True) -> Dataset:
    """Read a native folder; arrays are memory-mapped unless `mmap=False`."""
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as e:  # also JSON and UTF-8 decoding errors
        raise DataError(f"{path / 'manifest.json'}: unreadable manifest ({e}).") from e
    if not isinstance(manifest, dict):
        raise DataError(f"{path / 'manifest.json'}: not a JSON object.")
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path / 'manifest.json'}: 'format' is not '{FORMAT}'.")
    for key in ("task", "modalities"):
        if key not in manifest:
            raise DataError(f"{path / 'manifest.json'}: missing field '{key}'.")
    task = task or TaskSpec.from_dict(manifest["task"])
    mode = "r" if mmap else None
    splits = {}
    cleaned: dict[str, int] = {}
    for s in SPLITS:
        d = path / s
        if not d.is_dir():
            raise DataError(
                f"{path}: split folder '{s}' is missing. Provide train, valid and test."
            )

        def load(name: str, required: bool = True, d: Path = d, s: str = s) -> np.ndarray | None:
            f = d / name
            if not f.is_file():
                if required:
                    raise DataError(f"{path}: split '{s}' lacks '{name}'.")
                return None
            try:
                return np.load(f, mmap_mode=mode, allow_pickle=False)
            except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError) as e:
                # a truncated or altered .npy (header, length, or a pickled-object dtype)
                raise DataError(
                    f"{f}: not a readable array ({e}); the native folder is damaged: "
                    "convert or import it again."
                ) from e

        feats = {m: load(f"features.{m}.npy") for m in manifest["modalities"]}
        lens = {m: load(f"lengths.{m}.npy") for m in manifest["modalities"]}
        uni = {m: load(f"unimodal.{m}.npy") for m in manifest.get("unimodal_labels", [])}
        splits[s] = make_split(
            feats,
            load("labels.npy"),
            load("ids.npy"),
            f"{path} [{s}]",
            task,
            lengths=lens,
            raw_text=load("raw_text.npy", required=False),
            unimodal_labels=uni or None,
            cleaned=cleaned,
            split_name=s,
            tokens=load("tokens.npy", required=False),
            token_lengths=load("token_lengths.npy", required=False),
        )
    ds = Dataset(
        splits,
        task,
        name=manifest.get("name", path.name),
        preset=manifest.get("preset"),
        source=str(path),
        extraction=dict(manifest.get("extraction", {})),
        cleaned=cleaned,
    )
    return check_dataset(ds, str(path))
