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

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmcl.data.dataset import SPLITS, DataError, Dataset, check_dataset, make_split, random_split
from mmcl.data.native import write_native
from mmcl.data.presets import get_preset
from mmcl.features.tables import unique_ids
from mmcl.features.text import TextFeatures, encode_texts


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path}: missing; is SRC the right folder?")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


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
    rows = _rows(src / "labels.csv")
    if not (src / "audio_utterance73.npz").is_file():
        raise DataError(f"{src / 'audio_utterance73.npz'}: missing; is SRC the right folder?")
    audio = np.load(src / "audio_utterance73.npz", allow_pickle=False)
    audio_index = {i: k for k, i in enumerate(audio["ids"])}
    text, index = _text_table(rows, "segment_id", "text", model, max_len)
    task = get_preset("mosi").task
    splits = {}
    for s in SPLITS:
        part = [r for r in rows if r["split"] == s]
        ids = [r["segment_id"] for r in part]
        t = np.array([index[i] for i in ids])
        missing = [i for i in ids if i not in audio_index]
        if missing:
            raise DataError(f"{src / 'audio_utterance73.npz'}: no audio row for {missing[:3]}.")
        a = np.array([audio_index[i] for i in ids])
        splits[s] = make_split(
            {"text": text.features[t], "audio": audio["features"][a]},
            np.array([float(r["label"]) for r in part], dtype=np.float32),
            np.array(ids),
            f"{src} [{s}]",
            task,
            lengths={"text": text.lengths[t]},
            raw_text=np.array([r["text"] for r in part]),
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
        if not path.is_file():
            raise DataError(f"{path}: missing; is SRC the right folder?")
        z = np.load(path, allow_pickle=False)
        labels = z["label_class"] if task.kind == "multiclass" else z["labels"]
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


def _text_only(
    parts: dict[str, list[dict]],
    keys: tuple[str, str, str],
    label_type: type,
    src: Path,
    out: Path,
    preset: str,
    model: str,
    max_len: int,
    note: str = "imported",
) -> Dataset:
    """A text-only dataset from CSV rows per split; keys = (id, text, label) columns."""
    id_key, text_key, label_key = keys
    rows = [r for part in parts.values() for r in part]
    text, index = _text_table(rows, id_key, text_key, model, max_len)
    task = get_preset(preset).task
    splits = {}
    for s, part in parts.items():
        t = np.array([index[r[id_key]] for r in part])
        labels = np.array([label_type(r[label_key]) for r in part])
        splits[s] = make_split(
            {"text": text.features[t]},
            labels.astype(np.float32) if label_type is float else labels,
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
    rows = _rows(src / "utterances.csv")
    parts = {s: [r for r in rows if r["split"] == s] for s in SPLITS}
    keys = ("utterance_id", "text", "label_id")
    ds = _text_only(parts, keys, int, src, out, "iemocap6", model, max_len)
    return _finish(ds, src, out, overwrite)


def import_cmdc(
    src: Path,
    out: Path,
    model: str = "",
    max_len: int = 128,
    overwrite: bool = False,
    seed: int = 0,
) -> Dataset:
    rows = _rows(src / "interviews.csv")
    # the source README asks for a split by student, seeded, stratified by PHQ level
    split = random_split(len(rows), seed, strata=[r["phq_level"] for r in rows])
    parts = {s: [rows[i] for i in idx] for s, idx in split.items()}
    note = f"imported; 70/15/15 split by student stratified by phq_level, seed {seed}"
    ds = _text_only(parts, ("id", "text", "score"), float, src, out, "cmdc", model, max_len, note)
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
