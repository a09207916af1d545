"""Join feature tables (from `mmcl extract`: text, audio, video) with labels into a dataset.

    mmcl data assemble --labels labels.csv --features text=feat/text --features audio=feat/audio \
        --out data/mine [--id-col id] [--label-col label] [--split-col split] [--preset mosi]

Rows without a split column value are refused; a CSV without a split column gets a seeded
70/15/15 split (recorded in the manifest). Every labelled id must be in every table.
The tables are memory-mapped and the dataset refers to their rows instead of copying them
(see `mmcl.data.native`), so assembling costs little memory and no second copy on disk;
`copy=True` (`--copy`) writes a self-contained folder, still without loading a table whole.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from mmcl.data.dataset import (
    SPLITS,
    DataError,
    Dataset,
    TaskSpec,
    check_dataset,
    make_split,
    random_split,
)
from mmcl.data.io import read_json_object
from mmcl.data.native import write_native
from mmcl.data.presets import get_preset
from mmcl.data.table_rows import TableRows
from mmcl.features.audio import KIND as AUDIO_KIND
from mmcl.features.audio import audio_params
from mmcl.features.tables import id_columns, numbers, read_csv_rows, row_ids
from mmcl.features.text import KIND as TEXT_KIND
from mmcl.features.video import VISION_KIND, VideoParams


def _table(folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise DataError(
            f"{folder}: not a feature table (no manifest.json); make one with mmcl extract."
        )
    meta = read_json_object(manifest, " Extract the table again.")
    if meta.get("kind") not in (TEXT_KIND, AUDIO_KIND, VISION_KIND):
        raise DataError(f"{manifest}: kind '{meta.get('kind')}' is not a feature table.")
    if not isinstance(meta.get("content_hash"), str):
        raise DataError(f"{manifest}: no content_hash; extract the table again with mmcl extract.")
    names = ["ids", "lengths"] + (["tokens"] if meta["kind"] == TEXT_KIND else [])
    arrays = {}
    for n in names:
        try:
            arrays[n] = np.load(folder / f"{n}.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise DataError(
                f"{folder / f'{n}.npy'}: unreadable ({e}); extract the table again."
            ) from e
    return meta, arrays


def _rows(table: Path, rows: np.ndarray) -> TableRows:
    try:
        return TableRows(table, rows)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{table}: unreadable feature table ({e}); extract it again.") from e


def _extraction(meta: dict) -> dict:
    """What `predict` needs to make a table's features again from raw input."""
    if meta["kind"] == TEXT_KIND:
        return {"kind": "text-transformer", "model": meta["model"], "max_len": meta["max_len"]}
    if meta["kind"] == VISION_KIND:
        return {"kind": "vision-face", **{k: meta[k] for k in asdict(VideoParams())}}
    return {"kind": "audio", **asdict(audio_params(meta))}


def parse_tables(items: list[str]) -> dict[str, str]:
    """['text=feat/text', 'audio=feat/audio'] -> {'text': 'feat/text', 'audio': 'feat/audio'}."""
    tables = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise DataError(f"--features '{item}': expected MODALITY=FOLDER, e.g. text=feat/text.")
        tables[name] = folder
    return tables


def assemble(
    labels_csv: str | Path,
    tables: dict[str, str | Path],
    out: str | Path,
    id_col: str = "id",
    label_col: str = "label",
    split_col: str = "split",
    preset: str | None = None,
    task: str = "regression",
    seed: int = 0,
    overwrite: bool = False,
    copy: bool = False,
) -> Dataset:
    labels_csv = Path(labels_csv)
    cols = id_columns(id_col)
    rows = read_csv_rows(labels_csv, [*cols, label_col], "--labels")
    ids = row_ids(rows, cols, f"--labels {labels_csv}")  # rows[k]'s id is ids[k]
    labels = numbers(rows, label_col, f"--labels {labels_csv}", integer=task == "classification")
    if rows and split_col in rows[0]:
        bad = sorted({r[split_col] for r in rows} - set(SPLITS) - {"dev"})
        if bad:
            raise DataError(
                f"{labels_csv}: column '{split_col}' has values {bad}; use train/valid/test."
            )
        split_of = [{"dev": "valid"}.get(r[split_col], r[split_col]) for r in rows]
        split_note = f"splits from column '{split_col}'"
    else:
        split_of = [""] * len(rows)
        for s, idx in random_split(len(rows), seed).items():
            for k in idx:
                split_of[k] = s
        split_note = f"random 70/15/15 split, seed {seed}"
    if preset:
        spec = get_preset(preset).task
    elif task == "regression":
        spec = TaskSpec("regression", "regression")
    elif task == "classification":
        n_classes = int(labels.max(initial=0)) + 1
        spec = TaskSpec("multiclass", "classification", num_classes=n_classes)
    else:
        raise DataError(f"--task must be regression or classification, not '{task}'.")
    loaded = {m: _table(Path(p)) for m, p in tables.items()}
    index = {m: {str(i): k for k, i in enumerate(arrs["ids"])} for m, (_, arrs) in loaded.items()}
    for m, idx in index.items():
        missing = [i for i in ids if i not in idx]
        if missing:
            raise DataError(
                f"{tables[m]}: {len(missing)} labelled ids have no {m} features, "
                f"e.g. {missing[:3]}."
            )
    splits = {}
    for s in SPLITS:
        part = [k for k in range(len(rows)) if split_of[k] == s]
        if not part:
            raise DataError(f"{labels_csv}: split '{s}' is empty.")
        feats, lens, tokens, token_lengths = {}, {}, None, None
        for m, (meta, arrs) in loaded.items():
            rows_idx = np.array([index[m][ids[k]] for k in part])
            feats[m] = _rows(Path(tables[m]) / "features.npy", rows_idx)
            lens[m] = arrs["lengths"][rows_idx]
            if meta["kind"] == TEXT_KIND:
                tokens, token_lengths = arrs["tokens"][rows_idx], arrs["lengths"][rows_idx]
        dtype = np.float32 if spec.kind == "regression" else np.int64
        splits[s] = make_split(
            feats,
            labels[part].astype(dtype),
            np.array([ids[k] for k in part]),
            f"{labels_csv} [{s}]",
            spec,
            lengths=lens,
            tokens=tokens,
            token_lengths=token_lengths,
        )
    ds = Dataset(
        splits,
        spec,
        name=Path(out).name,
        preset=get_preset(preset).name if preset else None,
        source=f"{labels_csv} ({split_note})",
        extraction={m: _extraction(meta) for m, (meta, _) in loaded.items()},
    )
    check_dataset(ds, str(labels_csv))
    write_native(ds, out, overwrite=overwrite, copy=copy)
    return ds
