"""Datasets and features: read, describe, convert, import, synthesise, extract, assemble."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmcl.api.options import reporting
from mmcl.data.dataset import Dataset
from mmcl.features.video import VideoTables


def set_memory_budget(gb: float | None) -> None:
    """Cap, in GB, what any one input file may make mmcl allocate (None: the default, 32x
    the file's size on disk, at least 0.5, at most a quarter of memory); worker processes
    inherit it, as `mmcl --memory-budget GB`."""
    from mmcl.limits import ENV, fixed_limit

    if gb is None:
        os.environ.pop(ENV, None)
        return
    os.environ[ENV] = str(gb)
    fixed_limit()  # a budget that is not a positive number is refused here, not later


def load_dataset(
    path: str | Path = "synthetic",
    preset: str | None = None,
    *,
    label_column: int | None = None,
    csd_max_len: int | None = None,
) -> Dataset:
    """A dataset: a native folder, an MMSA or MulT pickle, a CMU .csd folder, an MFN .h5
    folder, or "synthetic"; `preset` names its task when detection cannot (see
    docs/data.md); `label_column` picks one column of multi-column labels; `csd_max_len`
    caps the frames per segment read from .csd files."""
    from mmcl.data.csd import MAX_LEN
    from mmcl.data.loader import load_data

    return load_data(str(path), preset, label_column, csd_max_len or MAX_LEN)


@dataclass
class Description:
    """What `mmcl data inspect` shows: `info` as data (JSON-ready), `text` for reading."""

    info: dict[str, Any] = field(repr=False)

    @property
    def text(self) -> str:
        from mmcl.data.summary import format_description

        return format_description(self.info)


def describe(
    path: str | Path | Dataset = "synthetic",
    preset: str | None = None,
    *,
    label_column: int | None = None,
) -> Description:
    """Splits, modalities with shapes and lengths, label statistics, cleaned values and the
    preset of a dataset (a path as `load_dataset` takes, or a loaded `Dataset`)."""
    from mmcl.data.summary import describe as _describe

    if not isinstance(path, Dataset):
        path = load_dataset(path, preset, label_column=label_column)
    return Description(_describe(path))


def convert(
    src: str | Path | Dataset,
    out: str | Path,
    *,
    preset: str | None = None,
    label_column: int | None = None,
    csd_max_len: int | None = None,
    overwrite: bool = False,
) -> Dataset:
    """Write a dataset (any readable path, or a loaded `Dataset`) to the native format in
    the folder `out` (safe, memory-mapped; later runs read it fast); returns the dataset."""
    from mmcl.data.native import write_native

    if not isinstance(src, Dataset):
        src = load_dataset(src, preset, label_column=label_column, csd_max_len=csd_max_len)
    write_native(src, out, overwrite=overwrite)
    return src


def import_dataset(
    name: str,
    src: str | Path,
    out: str | Path,
    *,
    model: str = "",
    max_len: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Dataset:
    """A real set of the shared data (mosi, mmmo, youtube, iemocap or cmdc; `src` its
    folder) in the native format at `out`, with its official split; text features from
    MiniLM or the local Hugging Face folder `model`, `max_len` tokens."""
    from mmcl.features.importers import import_dataset as _import

    with reporting(progress):
        return _import(name, src, out, overwrite=overwrite, model=model, max_len=max_len)


def synthesize(
    out: str | Path,
    *,
    fmt: str = "native",
    task: str = "regression",
    n_train: int = 600,
    n_valid: int = 200,
    n_test: int = 200,
    seq_len: int = 12,
    dims: str | Mapping[str, int] = "t=32,a=16,v=16",
    num_classes: int = 3,
    common: str | Sequence[str] | None = None,
    noise: float = 1.0,
    unimodal_labels: bool = False,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Synthetic data with a planted common + specific signal, written as `fmt`: native
    (a folder), mmsa or mult (a pickle); `dims` the modalities' widths ("t=32,a=16" or
    {"text": 32, ...}), `common` the modalities that carry the common signal,
    `unimodal_labels` a label per modality too (regression)."""
    from mmcl.api.options import joined
    from mmcl.data.synthetic import SynthConfig, parse_dims, parse_modalities, write_synthetic

    if isinstance(dims, Mapping):
        dims = ",".join(f"{m}={w}" for m, w in dims.items())
    cfg = SynthConfig(task, n_train, n_valid, n_test, seq_len, parse_dims(dims), num_classes)
    cfg.common_modalities, cfg.noise, cfg.seed = parse_modalities(joined(common)), noise, seed
    cfg.unimodal_labels = unimodal_labels
    return write_synthetic(cfg, out, fmt, overwrite)


@dataclass
class FeatureTable:
    """A feature table `extract_text` or `extract_audio` wrote (or found unchanged: `cached`),
    ready for `assemble`; `shape` is its features' (rows, steps, width)."""

    path: Path
    cached: bool
    shape: tuple[int, ...]

    @property
    def text(self) -> str:
        what = "unchanged (cached by content hash)" if self.cached else "wrote"
        return f"{what} {self.path}: features {self.shape}"


def _table(path: str | Path, cached: bool) -> FeatureTable:
    path = Path(path)
    shape = np.load(path / "features.npy", mmap_mode="r", allow_pickle=False).shape
    return FeatureTable(path, cached, tuple(shape))


def extract_text(
    texts: str | Path | Sequence[str],
    ids: Sequence[str] | None = None,
    out: str | Path = "features/text",
    *,
    text_col: str = "text",
    id_col: str = "id",
    model: str = "",
    max_len: int = 50,
    batch_size: int = 64,
    overwrite: bool = False,
    progress: bool = False,
) -> FeatureTable:
    """Text features (MiniLM, or the local Hugging Face folder `model`) into the feature
    table `out`: of a list of `texts` with their `ids`, or of a CSV file (`text_col`, and
    `id_col`: one column or "a,b"); an unchanged table is reused (cached by content)."""
    from mmcl.errors import UserError
    from mmcl.features.text import extract_text as _extract
    from mmcl.features.text import read_texts

    if isinstance(texts, str | Path):
        texts, ids = read_texts(Path(texts), text_col, id_col)
    elif ids is None:
        raise UserError("extract_text: give the texts' ids, or a CSV file with an id column.")
    with reporting(progress):
        _, cached = _extract(list(texts), list(ids), out, model, max_len, batch_size, overwrite)
    return _table(out, cached)


def extract_audio(
    wav_dir: str | Path,
    out: str | Path = "features/audio",
    *,
    backend: str = "librosa",
    hop_ms: float = 20.0,
    n_mfcc: int = 13,
    max_frames: int = 500,
    overwrite: bool = False,
    progress: bool = False,
) -> FeatureTable:
    """Frame-level acoustic features of every .wav in `wav_dir` (id = the file's stem) into
    the feature table `out`: librosa MFCC, pitch and energy (`hop_ms`, `n_mfcc`), or
    openSMILE's eGeMAPS (`backend="opensmile"`); at most `max_frames` frames each."""
    from mmcl.features.audio import AudioParams
    from mmcl.features.audio import extract_audio as _extract

    params = AudioParams(backend=backend, hop_ms=hop_ms, n_mfcc=n_mfcc, max_frames=max_frames)
    with reporting(progress):
        path, cached = _extract(wav_dir, out, params, overwrite)
    return _table(path, cached)


def extract_video(
    videos: str | Path,
    out: str | Path = "features/video",
    *,
    fps: float = 10.0,
    max_seconds: float = 3600.0,
    model: str = "",
    max_len: int = 50,
    overwrite: bool = False,
    progress: bool = False,
) -> VideoTables:
    """Vision (face geometry at `fps`), audio (as `extract_audio`) and text (the transcript,
    else offline speech recognition, as `extract_text`) tables of every video in the folder
    `videos`, or in a CSV file with columns id, path and optionally transcript, into
    `out`/vision, audio and text. Videos longer than `max_seconds` are refused, and so
    are frames too large for the memory budget (`set_memory_budget`)."""
    from mmcl.features.video import VideoParams
    from mmcl.features.video import extract_video as _extract

    params = VideoParams(fps=fps, max_seconds=max_seconds)
    with reporting(progress):
        return _extract(videos, out, params, model=model, max_len=max_len, overwrite=overwrite)


def assemble(
    labels: str | Path,
    tables: Mapping[str, str | Path] | Sequence[str],
    out: str | Path,
    *,
    id_col: str = "id",
    label_col: str = "label",
    split_col: str = "split",
    preset: str | None = None,
    task: str = "regression",
    seed: int = 0,
    overwrite: bool = False,
    copy: bool = False,
) -> Dataset:
    """Feature tables ({modality: folder}, or the CLI's "modality=folder" strings) joined
    with a labels CSV (ids, label, optional split; a random split by `seed` without one)
    into the native dataset folder `out`; `copy` copies the features instead of referring
    to the tables."""
    from mmcl.features.assemble import assemble as _assemble
    from mmcl.features.assemble import parse_tables

    if not isinstance(tables, Mapping):
        tables = parse_tables(list(tables))
    how = (id_col, label_col, split_col, preset, task, seed, overwrite, copy)
    return _assemble(labels, dict(tables), out, *how)
