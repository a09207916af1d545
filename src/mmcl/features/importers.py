"""Import the real sets of `shared/data` (or a user's copy) into the native format.

    mmcl data import mosi    SRC OUT   text (MiniLM token states) + 73-d utterance audio
    mmcl data import mmmo    SRC OUT   audio + vision, 20 word-aligned steps, score 1-5
    mmcl data import youtube SRC OUT   audio + vision, 20 steps, 3 classes
    mmcl data import iemocap SRC OUT   text only, 6 emotions (COSMIC split)
    mmcl data import cmdc    SRC OUT   text only (Chinese interview answers), PHQ-9 total

Official splits are used where the source has them; `cmdc` has none, so a seeded 70/15/15
split by student is made and recorded in the manifest. The source README is copied beside the
data as PROVENANCE.md. MMMO and YouTube lack text in their training split, so only their
audio and vision are imported.
"""

from __future__ import annotations

import math
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmcl.data.dataset import SPLITS, DataError, Dataset, check_dataset, make_split, random_split
from mmcl.data.native import write_native
from mmcl.data.presets import get_preset
from mmcl.features.tables import numbers, read_csv_rows, unique_ids
from mmcl.features.text import TextFeatures, encode_texts
from mmcl.limits import Budget


def _rows(path: Path, required: list[str]) -> list[dict[str, str]]:
    return read_csv_rows(path, required, "SRC", "Is SRC a copy of the set in shared/data?")


def _npz(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """The arrays `keys` of the .npz file `path` (no pickled objects)."""
    if not path.is_file():
        raise DataError(f"SRC {path}: no such file. Is SRC a copy of the set in shared/data?")
    try:
        _charge_npz(path, keys)
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise DataError(f"SRC {path}: no array(s) {missing}; it holds {z.files}.")
            return {k: z[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # truncated, object arrays
        raise DataError(f"SRC {path}: not a readable .npz file ({e}).") from e


def _charge_npz(path: Path, keys: list[str]) -> None:
    """Charge the decoded size of the members `keys`, read from their .npy headers before
    anything is decompressed (a 2 MB zip may hold gigabytes of zeros)."""
    budget = Budget(path)
    with zipfile.ZipFile(path) as zf:
        for key in keys:
            name = f"{key}.npy"
            if name not in zf.namelist():
                continue
            with zf.open(name) as member:
                version = np.lib.format.read_magic(member)
                fmt = np.lib.format
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read(member)
            size = math.prod(shape) * dtype.itemsize
            budget.charge(max(size, zf.getinfo(name).file_size), f"array '{key}' {shape}")


def _text_table(
    rows: list[dict], id_key: str, text_key: str, model: str, max_len: int
) -> tuple[TextFeatures, dict[str, int]]:
    """MiniLM (or `model`) features of every row's text, in memory: an import writes only
    inside its output folder, so it keeps no feature cache beside it."""
    ids = unique_ids([r[id_key] for r in rows], f"column '{id_key}'")
    feats, lengths, pooled, tokens = encode_texts([r[text_key] for r in rows], model, max_len)
    text = TextFeatures(np.asarray(ids, dtype=str), feats, lengths, pooled, tokens)
    return text, {i: k for k, i in enumerate(ids)}


def text_extraction(model: str, max_len: int) -> dict:
    return {"kind": "text-transformer", "model": model or "minilm", "max_len": max_len}


def _finish(ds: Dataset, src: Path, out: Path, overwrite: bool) -> Dataset:
    ds = check_dataset(ds, str(src))
    write_native(ds, out, overwrite=overwrite)
    readme = src / "README.md"
    if readme.is_file():
        shutil.copy(readme, out / "PROVENANCE.md")
    return ds


def import_mosi(
    src: Path, out: Path, model: str = "", max_len: int = 50, overwrite: bool = False
) -> Dataset:
    path = src / "labels.csv"
    rows = _rows(path, ["segment_id", "text", "label", "split"])
    labels = numbers(rows, "label", str(path)).astype(np.float32)
    audio = _npz(src / "audio_utterance73.npz", ["ids", "features"])
    audio_index = {i: k for k, i in enumerate(audio["ids"])}
    missing = [r["segment_id"] for r in rows if r["segment_id"] not in audio_index]
    if missing:
        raise DataError(
            f"{src / 'audio_utterance73.npz'}: no audio row for {len(missing)} segment(s) of "
            f"{path}, e.g. {missing[:3]}."
        )
    split_rows = _by_split(rows, path)
    text, index = _text_table(rows, "segment_id", "text", model, max_len)
    task = get_preset("mosi").task
    splits = {}
    for s, idx in split_rows.items():
        ids = [rows[i]["segment_id"] for i in idx]
        t = np.array([index[i] for i in ids])
        a = np.array([audio_index[i] for i in ids])
        splits[s] = make_split(
            {"text": text.features[t], "audio": audio["features"][a]},
            labels[idx],
            np.array(ids),
            f"{src} [{s}]",
            task,
            lengths={"text": text.lengths[t]},
            raw_text=np.array([rows[i]["text"] for i in idx]),
            tokens=text.tokens[t],
            token_lengths=text.lengths[t],
        )
    ds = Dataset(
        splits,
        task,
        name="mosi",
        preset="mosi",
        source=f"{src} (imported)",
        extraction={
            "text": text_extraction(model, max_len),
            "audio": {
                "kind": "source",
                "note": "73-d utterance vector of the MOSI source; no extractor",
            },
        },
    )
    return _finish(ds, src, out, overwrite)


def _import_mfn(src: Path, out: Path, preset: str, overwrite: bool) -> Dataset:
    task = get_preset(preset).task
    splits = {}
    for s in SPLITS:
        path = src / f"{s}.npz"
        label_key = "label_class" if task.kind == "multiclass" else "labels"
        z = _npz(path, ["audio", "vision", label_key])
        labels = z[label_key]
        n = len(labels)
        splits[s] = make_split(
            {"audio": z["audio"], "vision": z["vision"]},  # text is missing from train
            labels,
            np.array([f"{preset}_{s}_{i:04d}" for i in range(n)]),
            f"{path}",
            task,
        )
    ds = Dataset(splits, task, name=preset, preset=preset, source=f"{src} (imported)")
    return _finish(ds, src, out, overwrite)


def import_mmmo(src: Path, out: Path, overwrite: bool = False, **_: object) -> Dataset:
    return _import_mfn(src, out, "mmmo", overwrite)


def import_youtube(src: Path, out: Path, overwrite: bool = False, **_: object) -> Dataset:
    return _import_mfn(src, out, "youtube", overwrite)


def _by_split(rows: list[dict[str, str]], path: Path) -> dict[str, np.ndarray]:
    """Split -> the indices of the rows whose 'split' column names it."""
    names = np.array([r["split"] for r in rows])
    unknown = sorted(set(names.tolist()) - set(SPLITS))
    if unknown:
        raise DataError(f"SRC {path}: column 'split' holds {unknown}; use {list(SPLITS)}.")
    return {s: np.flatnonzero(names == s) for s in SPLITS}


def _text_only(
    rows: list[dict[str, str]],
    split_rows: dict[str, np.ndarray],
    labels: np.ndarray,
    keys: tuple[str, str],
    src: Path,
    preset: str,
    model: str,
    max_len: int,
    note: str = "imported",
) -> Dataset:
    """A text-only dataset from CSV rows: split -> row indices, labels per row, keys = (id,
    text) columns."""
    id_key, text_key = keys
    text, index = _text_table(rows, id_key, text_key, model, max_len)
    task = get_preset(preset).task
    splits = {}
    for s, idx in split_rows.items():
        part = [rows[i] for i in idx]
        t = np.array([index[r[id_key]] for r in part])
        splits[s] = make_split(
            {"text": text.features[t]},
            labels[idx],
            np.array([r[id_key] for r in part]),
            f"{src} [{s}]",
            task,
            lengths={"text": text.lengths[t]},
            raw_text=np.array([r[text_key] for r in part]),
            tokens=text.tokens[t],
            token_lengths=text.lengths[t],
        )
    return Dataset(
        splits,
        task,
        name=preset,
        preset=preset,
        source=f"{src} ({note})",
        extraction={"text": text_extraction(model, max_len)},
    )


def import_iemocap(
    src: Path, out: Path, model: str = "", max_len: int = 50, overwrite: bool = False
) -> Dataset:
    path = src / "utterances.csv"
    rows = _rows(path, ["utterance_id", "text", "label_id", "split"])
    labels = numbers(rows, "label_id", str(path), integer=True).astype(np.int64)
    keys = ("utterance_id", "text")
    ds = _text_only(rows, _by_split(rows, path), labels, keys, src, "iemocap6", model, max_len)
    return _finish(ds, src, out, overwrite)


def import_cmdc(
    src: Path,
    out: Path,
    model: str = "",
    max_len: int = 128,
    overwrite: bool = False,
    seed: int = 0,
) -> Dataset:
    path = src / "interviews.csv"
    rows = _rows(path, ["id", "text", "score", "phq_level"])
    labels = numbers(rows, "score", str(path)).astype(np.float32)
    # the source README asks for a split by student, seeded, stratified by PHQ level
    split = random_split(len(rows), seed, strata=[r["phq_level"] for r in rows])
    note = f"imported; 70/15/15 split by student stratified by phq_level, seed {seed}"
    ds = _text_only(rows, split, labels, ("id", "text"), src, "cmdc", model, max_len, note)
    return _finish(ds, src, out, overwrite)


IMPORTERS: dict[str, Callable[..., Dataset]] = {
    "mosi": import_mosi,
    "mmmo": import_mmmo,
    "youtube": import_youtube,
    "iemocap": import_iemocap,
    "cmdc": import_cmdc,
}


def import_dataset(name: str, src: str | Path, out: str | Path, **kwargs: object) -> Dataset:
    if name == "chsims2":
        raise DataError(
            "chsims2 holds labels only (no features), so it cannot be imported as a training set; "
            "use its labels.csv for SIMS metric and ULGM label statistics."
        )
    if name not in IMPORTERS:
        raise DataError(f"unknown dataset '{name}'; importable: {sorted(IMPORTERS)}.")
    # options left unset (None) keep each importer's own default (e.g. its max_len)
    return IMPORTERS[name](
        Path(src), Path(out), **{k: v for k, v in kwargs.items() if v is not None}
    )
