"""Rows of a user's CSV file (transcripts, labels) and the ids that join them to features."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from mmcl.data.dataset import DataError
from mmcl.data.io import check_output, read_json_object
from mmcl.errors import UserError


def cached_table(out: Path, kind: str, digest: str, overwrite: bool) -> bool:
    """Whether `out` already holds the feature table of `kind` with content hash `digest`
    (nothing to extract). Otherwise `out` is about to be written, and `check_output` refuses
    a file, or a non-empty folder that is not a table of this kind, unless `overwrite`; a
    folder whose manifest is damaged is not a table."""
    try:
        meta = read_json_object(Path(out) / "manifest.json")
    except UserError:
        meta = {}
    ours = meta.get("kind") == kind
    check_output(out, overwrite, lambda _: ours)
    return ours and meta.get("content_hash") == digest


ID_HINT = "Name the right ones (e.g. --id-cols video_id,clip_id)."


def read_csv_rows(
    path: Path, required: list[str], option: str, hint: str = ID_HINT
) -> list[dict[str, str]]:
    """Every row of the CSV file `path` (given as `option`), which must hold `required`;
    `hint` says what to do when it does not."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{option} {path}: no such file.")
    try:
        # utf-8-sig: a byte-order mark (as spreadsheet programs write) is not part of a name
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{option} {path}: not a CSV text file ({e}).") from e
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(f"{option} {path}: no column(s) {missing}; columns are {columns}. {hint}")
    for k, row in enumerate(rows):
        short = [c for c in required if row.get(c) is None]
        if short:
            raise DataError(
                f"{option} {path}: data row {k + 1} has fewer cells than the header (no "
                f"{short}); complete or remove that row."
            )
        extra = row.get(None)  # DictReader's place for cells past the header's
        if extra:
            raise DataError(
                f"{option} {path}: data row {k + 1} has {len(columns) + len(extra)} cells, the "
                f"header {len(columns)}; a cell that holds a comma (e.g. a transcript) must be "
                'quoted ("...") or that row is cut into the wrong columns.'
            )
    return rows


def numbers(
    rows: list[dict[str, str]], column: str, where: str, integer: bool = False
) -> np.ndarray:
    """The column's values as float64 (N,); a DataError names the first one that is not a
    number (or, with `integer`, not a whole number)."""
    values = np.empty(len(rows))
    for k, row in enumerate(rows):
        try:
            values[k] = float(row[column])
        except (TypeError, ValueError):  # None: the row is shorter than the header
            values[k] = np.nan
        if not np.isfinite(values[k]) or (integer and values[k] != round(values[k])):
            kind = "a whole number (a class index 0, 1, ...)" if integer else "a finite number"
            raise DataError(
                f"{where}: column '{column}', data row {k + 1}, holds {row[column]!r}, not "
                f"{kind}. Correct that row or name another column."
            )
    return values


def id_columns(spec: str) -> list[str]:
    """'video_id,clip_id' -> ['video_id', 'clip_id']."""
    cols = [c.strip() for c in spec.split(",") if c.strip()]
    if not cols:
        raise DataError("--id-cols: name at least one column.")
    return cols


def row_ids(rows: list[dict[str, str]], cols: list[str], where: str) -> list[str]:
    """Each row's id: its id columns joined by '_' (e.g. 'vid3_12'); ids must be unique."""
    return unique_ids(["_".join(r[c] for c in cols) for r in rows], where)


def unique_ids(ids: list[str], where: str) -> list[str]:
    """`ids`, or a DataError counting the repeated ones with examples."""
    repeated = [(i, n) for i, n in Counter(ids).items() if n > 1]
    if repeated:
        examples = ", ".join(f"'{i}' x{n}" for i, n in repeated[:5])
        raise DataError(
            f"{where}: {len(repeated)} ids occur more than once ({sum(n for _, n in repeated)} "
            f"rows), e.g. {examples}. Ids must be unique: add columns with --id-cols, e.g. "
            "--id-cols video_id,clip_id."
        )
    return ids
