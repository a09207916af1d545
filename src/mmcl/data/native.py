"""The native format: a folder with `manifest.json` and one `.npy` file per array per split.

    OUT/manifest.json            modalities, widths, task, split sizes, provenance
    OUT/<split>/features.<m>.npy  float32 (N, L_m, D_m)
    OUT/<split>/lengths.<m>.npy   int64 (N,)
    OUT/<split>/labels.npy        task-dependent, see TaskSpec
    OUT/<split>/ids.npy           unicode (N,)
    OUT/<split>/raw_text.npy      unicode (N,), optional
    OUT/<split>/unimodal.<m>.npy  float32 (N,), optional (CH-SIMS T/A/V labels)
    OUT/<split>/tokens.npy        int64 (N, L_tok), optional, with token_lengths.npy (N,)
    OUT/<split>/rows.<m>.npy      int64 (N,), instead of features.<m>.npy: the split's rows of
                                  the feature table that manifest "tables" names for <m>

Plain `.npy` rather than `.npz` because `.npy` files memory-map (`np.load(mmap_mode="r")`),
so a large dataset costs no RAM until a batch touches it; nothing here is a pickle.
A folder made by `mmcl data assemble` refers to the `mmcl extract` tables it was built from
(their path relative to the folder, their ids checked on every read) rather than copying them:
the features are stored once. `assemble --copy` writes a self-contained folder instead.
"""

from __future__ import annotations

import json
import os
import re
import tokenize
from pathlib import Path

import numpy as np

from mmcl.data.dataset import SPLITS, DataError, Dataset, TaskSpec, check_dataset, make_split
from mmcl.data.io import atomic_folder, check_output, read_json_object
from mmcl.data.table_rows import TableRows, copy_rows
from mmcl.errors import UserError
from mmcl.limits import Budget

FORMAT = "mmcl-native"
VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def is_native(path: Path) -> bool:
    return path.is_dir() and (path / "manifest.json").is_file()


def _table_hash(folder: Path) -> str | None:
    try:
        return read_json_object(folder / "manifest.json").get("content_hash")
    except UserError:
        return None


def _table_refs(ds: Dataset, out: Path, copy: bool) -> dict[str, dict]:
    """Modality -> {table folder relative to `out`, its content hash}, for modalities whose
    every split is rows of one feature table (the others, and all with `copy`, are written
    as arrays)."""
    if copy:
        return {}
    refs = {}
    for m in ds.modalities:
        parts = [sp.features[m] for sp in ds.splits.values()]
        folders = {x.folder.resolve() for x in parts if isinstance(x, TableRows)}
        if len(folders) == 1 and all(isinstance(x, TableRows) for x in parts):
            folder = folders.pop()
            refs[m] = {
                "path": os.path.relpath(folder, out.resolve()),
                "content_hash": _table_hash(folder),
            }
    return refs


def write_native(ds: Dataset, out: str | Path, overwrite: bool = False, copy: bool = False) -> Path:
    """Write `ds` to folder `out` atomically (a temp folder renamed into place). Features that
    are rows of an extracted table are stored as row numbers unless `copy`."""
    out = Path(out)
    check_output(out, overwrite, option="output folder")
    for m in ds.modalities:
        if not _NAME.match(m):
            raise DataError(f"modality name '{m}' must be letters, digits, '_' or '-'.")
    tables = _table_refs(ds, out, copy)
    with atomic_folder(out) as tmp:
        for s, sp in ds.splits.items():
            d = tmp / s
            d.mkdir()
            for m, x in sp.features.items():
                if m in tables:
                    np.save(d / f"rows.{m}.npy", x.rows)
                else:
                    copy_rows(x, d / f"features.{m}.npy")
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
        if tables:
            manifest["tables"] = tables
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _open_table(path: Path, ref: object, m: str) -> tuple[Path, np.ndarray]:
    """(features file, ids) of the feature table the manifest names for `m`."""
    if not isinstance(ref, dict) or not isinstance(ref.get("path"), str):
        raise DataError(f"{path / 'manifest.json'}: tables.{m} needs a 'path'.")
    if Path(ref["path"]).is_absolute():
        raise DataError(
            f"{path / 'manifest.json'}: tables.{m}.path {ref['path']!r} is absolute; `mmcl data "
            "assemble` writes paths relative to the dataset. Assemble the dataset again."
        )
    digest = ref.get("content_hash")
    if not isinstance(digest, str) or not digest:
        raise DataError(
            f"{path / 'manifest.json'}: tables.{m} has no content_hash, so the table cannot be "
            "checked; assemble the dataset again."
        )
    folder = (path / ref["path"]).resolve()
    if _table_hash(folder) != digest:
        raise DataError(
            f"{path}: modality '{m}' refers to the feature table {folder}, which is missing or "
            "has changed since the dataset was assembled. Restore it, or assemble again "
            "(--copy makes a self-contained dataset)."
        )
    try:
        ids = np.load(folder / "ids.npy", allow_pickle=False).astype(str)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(
            f"{path}: modality '{m}' refers to the feature table {folder}, which is missing or "
            f"unreadable ({e}). Restore that folder, or assemble again (--copy makes a "
            "self-contained dataset)."
        ) from e
    return folder / "features.npy", ids


def _charge(budget: Budget, f: Path, arr: np.ndarray) -> np.ndarray:
    """`arr` (memory-mapped from `f`), after charging its declared size: the checks and the
    training statistics read every value, and a sparse file declares more than it holds."""
    budget.charge(arr.nbytes, f"{f.name} {arr.shape}")
    return arr


def read_native(path: str | Path, task: TaskSpec | None = None) -> Dataset:
    """Read a native folder; its arrays are memory-mapped."""
    path = Path(path)
    manifest = read_json_object(path / "manifest.json", " Convert or import the data again.")
    if not isinstance(manifest.get("modalities"), dict | list):
        raise DataError(f"{path / 'manifest.json'}: 'modalities' must be an object.")
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path / 'manifest.json'}: 'format' is not '{FORMAT}'.")
    for key in ("task", "modalities"):
        if key not in manifest:
            raise DataError(f"{path / 'manifest.json'}: missing field '{key}'.")
    try:
        task = task or TaskSpec.from_dict(manifest["task"])
    except DataError as e:
        raise DataError(f"{path / 'manifest.json'}: {e}") from None
    refs = manifest.get("tables", {})
    if not isinstance(refs, dict):
        raise DataError(f"{path / 'manifest.json'}: 'tables' must be an object.")
    tables = {m: _open_table(path, ref, m) for m, ref in refs.items()}
    budget = Budget(path, mapped=True)
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
                return _charge(budget, f, np.load(f, mmap_mode="r", allow_pickle=False))
            except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError) as e:
                # a truncated or altered .npy (header, length, or a pickled-object dtype)
                raise DataError(
                    f"{f}: not a readable array ({e}); the native folder is damaged: "
                    "convert or import it again."
                ) from e

        ids = load("ids.npy")
        feats = {
            m: _table_rows(load(f"rows.{m}.npy"), ids, *tables[m], f"{path} [{s}]")
            if m in tables
            else load(f"features.{m}.npy")
            for m in manifest["modalities"]
        }
        lens = {m: load(f"lengths.{m}.npy") for m in manifest["modalities"]}
        uni = {m: load(f"unimodal.{m}.npy") for m in manifest.get("unimodal_labels", [])}
        splits[s] = make_split(
            feats,
            load("labels.npy"),
            ids,
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


def _table_rows(
    rows: np.ndarray, ids: np.ndarray, table: Path, table_ids: np.ndarray, where: str
) -> TableRows:
    """The split's rows of a referenced table, after checking they still hold the split's ids
    (a table extracted again, or edited, since the dataset was assembled is refused)."""
    try:
        view = TableRows(table, rows)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{where}: {table}: {e}; extract the table and assemble again.") from e
    if not np.array_equal(table_ids[view.rows], np.asarray(ids).astype(str)):
        raise DataError(
            f"{where}: the feature table {table.parent} no longer holds this split's ids at the "
            "recorded rows (extracted again since?); run mmcl data assemble again."
        )
    return view
