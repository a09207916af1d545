"""The Python API: what the command line does, as functions that take keyword options
(the CLI's, with `overrides` a mapping instead of `--set` strings), return data and raise
`UserError` (and its subclasses) for a user's mistake. Nothing here exits the process or
prints, unless `progress=True` asks for progress lines and messages.

The CLI (`mmcl.cli`) does the same from the shell; docs/api.md shows each function in use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmcl.data.batching import Batch
from mmcl.data.dataset import Dataset, Split
from mmcl.errors import UserError
from mmcl.experiments.grid import GridResult
from mmcl.models.base import TaskModel
from mmcl.progress import silenced

# {"train.lr": 1e-3}, or the command line's "train.lr=1e-3" strings
Overrides = Mapping[str, Any] | Sequence[str] | None


def _quiet(_: str) -> None:
    return None


@contextmanager
def _reporting(progress: bool) -> Iterator[Callable[[str], None]]:
    """The `say` callback for `progress` (print, or nothing), with progress bars to match."""
    with silenced(not progress):
        yield print if progress else _quiet


def _toml(value: Any) -> str:
    """A Python value as a TOML literal (what `--set key=VALUE` takes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise UserError(f"overrides: {value!r} ({type(value).__name__}) is not a config value.")


def settings(overrides: Overrides) -> list[str]:
    """{"train.lr": 1e-3, "modalities": ["text"]} -> ["train.lr=0.001", 'modalities=["text"]'];
    "key=value" strings (the CLI's --set) are taken as they are."""
    if overrides is None or isinstance(overrides, Mapping):
        return [f"{key}={_toml(value)}" for key, value in (overrides or {}).items()]
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise UserError("overrides: give a mapping {key: value}, or a list of 'key=value'.")
    return list(overrides)


def _data(data: str | Path | None) -> str | None:
    return None if data is None else str(data)


# ----------------------------------------------------------------------------- data
def load_dataset(path: str | Path = "synthetic", preset: str | None = None) -> Dataset:
    """A dataset: a native folder, an MMSA or MulT pickle, a CMU .csd folder, an MFN .h5
    folder, or "synthetic"; `preset` names its task when detection cannot (see
    docs/data.md)."""
    from mmcl.data.loader import load_data

    return load_data(str(path), preset)


def extract_text(
    texts: Sequence[str],
    ids: Sequence[str],
    out: str | Path,
    *,
    model: str = "",
    max_len: int = 50,
    batch_size: int = 64,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Text features (MiniLM, or the local Hugging Face folder `model`) of `texts` into the
    feature table `out`, ready for `mmcl data assemble`; an unchanged table is reused."""
    from mmcl.features.text import extract_text as _extract

    with _reporting(progress):
        _extract(list(texts), list(ids), out, model, max_len, batch_size, overwrite)
    return Path(out)


def extract_audio(
    wav_dir: str | Path, out: str | Path, *, overwrite: bool = False, progress: bool = False
) -> Path:
    """Audio features (librosa frames) of every .wav in `wav_dir` into the table `out`."""
    from mmcl.features.audio import extract_audio as _extract

    with _reporting(progress):
        _extract(wav_dir, out, overwrite=overwrite)
    return Path(out)


def assemble(
    labels: str | Path,
    tables: Mapping[str, str | Path],
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
    """Feature tables ({modality: folder} from `extract_text` / `extract_audio`) joined with
    a labels CSV (id, label, optional split) into a native dataset folder `out`."""
    from mmcl.features.assemble import assemble as _assemble

    how = (id_col, label_col, split_col, preset, task, seed, overwrite, copy)
    return _assemble(labels, dict(tables), out, *how)


# ----------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    """What `train` made: the run folder, one folder per seed, and the summary over seeds
    (each split's metrics as mean and std, as summary.json holds them)."""

    out: Path
    seeds: list[Path]
    summary: dict[str, Any] = field(repr=False)


def train(
    data: str | Path | None = None,
    model: str | None = None,
    *,
    out: str | Path = "runs/train",
    seeds: int = 1,
    epochs: int | None = None,
    recipe: str | None = None,
    preset: str | None = None,
    overrides: Overrides = None,
    resume: bool = False,
    progress: bool = False,
) -> TrainResult:
    """Train seeds 0..seeds-1 of `model` on `data` into OUT/seed-<s>/ (defaults < recipe <
    arguments < overrides, as `mmcl train`)."""
    from mmcl.experiments.train import train_from_options
    from mmcl.run_folder import seed_dirs

    if seeds < 1:
        raise UserError(f"seeds = {seeds}: train at least one seed.")
    out = Path(out)
    extra = [f'preset="{preset}"'] if preset else []
    with _reporting(progress) as say:
        summary = train_from_options(
            recipe, model, _data(data), epochs, [*extra, *settings(overrides)], out, seeds,
            resume, say,
        )  # fmt: skip
    return TrainResult(out, seed_dirs(out), summary)


def evaluate(
    run: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    preset: str | None = None,
) -> list[dict[str, Any]]:
    """Each seed's metrics on `split` of `data` (default: the data the run trained on);
    writes eval-<split>.json into each seed folder, as `mmcl evaluate`."""
    from mmcl.evaluation.inference import evaluate_run

    return evaluate_run(Path(run), _data(data), split, preset)


@dataclass
class GridOptions:
    """How a grid (`compare`, `ablate`) runs; `storage`: as one machine's workers of a grid
    shared through a study database (see docs/scaling.md)."""

    data: str | Path | None = None
    out: str | Path = "runs/compare"
    preset: str | None = None
    overrides: Overrides = None
    jobs: int = 1
    resume: bool = False
    storage: str | None = None
    study: str | None = None
    heartbeat: int | None = None
    progress: bool = False


def _grid(grid: Any, o: GridOptions) -> GridResult | None:
    """The grid's table; None for a worker of a shared grid that did not write it."""
    from mmcl.experiments.grid import run_grid_on
    from mmcl.experiments.grid_workers import run_grid_on_storage
    from mmcl.experiments.studies import HEARTBEAT

    data, out, extra = _data(o.data) or grid.data, Path(o.out), settings(o.overrides)
    with _reporting(o.progress) as say:
        if o.storage is None:
            return run_grid_on(grid, data, out, o.preset, extra, o.jobs, o.resume, say)
        return run_grid_on_storage(
            grid, data, out, o.storage, o.study, o.preset, extra, o.jobs,
            o.heartbeat or HEARTBEAT, say,
        )  # fmt: skip


def _joined(items: str | Sequence[str] | None) -> str | None:
    return items if items is None or isinstance(items, str) else ",".join(items)


def compare(
    models: str | Sequence[str] | None = None,
    *,
    grid: str | Path | None = None,
    data: str | Path | None = None,
    out: str | Path = "runs/compare",
    seeds: int | None = None,
    epochs: int | None = None,
    recipe: str | None = None,
    only: str | Sequence[str] | None = None,
    preset: str | None = None,
    overrides: Overrides = None,
    jobs: int = 1,
    resume: bool = False,
    storage: str | None = None,
    study: str | None = None,
    heartbeat: int | None = None,
    progress: bool = False,
) -> GridResult | None:
    """Train each model spec (e.g. "late_fusion", "unimodal:text", "mmcl:variant=reference")
    or a grid file's rows (`only` some of them) for several seeds; the table (means, stds,
    per-seed values, p-values against the first row) as data and in
    OUT/compare.{md,csv,json,png}. With `storage`, this machine's workers of a grid shared
    through a study database (docs/scaling.md); a worker that did not write the table gets
    None."""
    from mmcl.experiments.grid import grid_from_options

    chosen = grid_from_options(_joined(models), None if grid is None else str(grid))
    chosen = chosen.with_options(seeds, epochs, recipe, _joined(only))
    how = GridOptions(
        data, out, preset, overrides, jobs, resume, storage, study, heartbeat, progress
    )
    return _grid(chosen, how)


def ablate(
    *,
    data: str | Path | None = None,
    out: str | Path = "runs/ablate",
    seeds: int | None = None,
    epochs: int | None = None,
    recipe: str | None = None,
    only: str | Sequence[str] | None = None,
    overrides: Overrides = None,
    jobs: int = 1,
    resume: bool = False,
    storage: str | None = None,
    study: str | None = None,
    heartbeat: int | None = None,
    progress: bool = False,
) -> GridResult | None:
    """`compare` on the MMCL ablation grid (recipes/grids/mmcl_ablation.toml)."""
    from mmcl.experiments.grid import ABLATION_GRID

    return compare(
        grid=ABLATION_GRID, data=data, out=out, seeds=seeds, epochs=epochs, recipe=recipe,
        only=only, overrides=overrides, jobs=jobs, resume=resume, storage=storage,
        study=study, heartbeat=heartbeat, progress=progress,
    )  # fmt: skip


def tune(
    data: str | Path | None = None,
    model: str | None = None,
    *,
    trials: int = 20,
    out: str | Path = "runs/tune",
    storage: str | None = None,
    study: str | None = None,
    space: str | Path | None = None,
    timeout: float | None = None,
    jobs: int = 1,
    recipe: str | None = None,
    epochs: int | None = None,
    overrides: Overrides = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Add `trials` Optuna trials (validation only; test never read) to the study and write
    best.toml, trials.csv and plots to `out`; returns the best trial."""
    from mmcl.experiments.tune import tune as _tune

    with _reporting(progress) as say:
        return _tune(
            _data(data), model, trials, Path(out), storage, study, space, timeout, jobs, recipe,
            epochs, settings(overrides), say=say,
        )  # fmt: skip


# ----------------------------------------------------------------------------- runs
@dataclass
class Run:
    """A trained run, ready to predict: its validation-best seed's model (never chosen on
    test), that seed's saved config, and the folders."""

    folder: Path
    seed_dir: Path
    model: TaskModel = field(repr=False)
    config: dict[str, Any] = field(repr=False)

    @property
    def modalities(self) -> list[str]:
        return self.model.info.modalities

    def predict(
        self,
        inputs: Dataset | Split | Mapping[str, np.ndarray],
        *,
        split: str = "test",
        lengths: Mapping[str, np.ndarray] | None = None,
        batch_size: int = 256,
    ) -> np.ndarray:
        """Predictions (regression (N,); class logits otherwise) for a dataset's `split`, a
        `Split`, or feature arrays {modality: (N, L, D)} with optional `lengths`
        {modality: (N,)} (default: every step is real). The arrays must have the run's
        modalities and widths; a dataset is checked as `mmcl evaluate` checks it."""
        from mmcl.evaluation.inference import compatible_data

        if isinstance(inputs, Dataset):
            ds = compatible_data(inputs, self.config, inputs.source or inputs.name)
            if split not in ds.splits:
                raise UserError(f"split must be one of {sorted(ds.splits)}, not '{split}'.")
            return self.model.predict(ds.splits[split], batch_size)
        if isinstance(inputs, Split):
            return self.model.predict(inputs, batch_size)
        return self._predict_arrays(inputs, lengths, batch_size)

    def _predict_arrays(
        self,
        features: Mapping[str, np.ndarray],
        lengths: Mapping[str, np.ndarray] | None,
        batch_size: int,
    ) -> np.ndarray:
        dims = self.model.info.dims
        if set(features) != set(dims):
            raise UserError(
                f"predict: the run takes modalities {sorted(dims)}, got {sorted(features)}."
            )
        arrays = {m: np.asarray(features[m], dtype=np.float32) for m in dims}
        n = {len(x) for x in arrays.values()}
        for m, x in arrays.items():
            if x.ndim != 3 or x.shape[2] != dims[m]:
                raise UserError(
                    f"predict: '{m}' must be (N, steps, {dims[m]}), got {tuple(x.shape)}."
                )
        if len(n) != 1:
            raise UserError("predict: every modality needs the same number of samples.")
        (count,) = n
        lens = {
            m: np.asarray((lengths or {}).get(m, np.full(count, x.shape[1])), dtype=np.int64)
            for m, x in arrays.items()
        }
        self.model.eval()
        outs = []
        with torch.no_grad():
            for start in range(0, count, batch_size):
                rows = slice(start, start + batch_size)
                feats = {m: torch.from_numpy(x[rows]) for m, x in arrays.items()}
                masks = {
                    m: torch.arange(x.shape[1])[None, :] < torch.from_numpy(lens[m][rows])[:, None]
                    for m, x in feats.items()
                }
                index = torch.arange(len(next(iter(feats.values()))))
                batch = Batch(feats, masks, torch.zeros(len(index)), index)
                outs.append(self.model.run(batch).preds.cpu())
        return torch.cat(outs).numpy()

    def predict_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        *,
        missing: str | None = None,
    ) -> list[dict[str, Any]]:
        """Raw transcripts through the run's own text extraction, then the model: one record
        per text (id, text, prediction). A modality the texts cannot give (e.g. audio) is an
        error unless `missing` is "zero" or "mean", as `mmcl predict --text`."""
        from mmcl.evaluation.inference import predict_raw

        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        _, records = predict_raw(self.folder, ids, list(texts), None, missing)
        return list(records)

    def predict_audio(
        self, wavs: Sequence[str | Path], *, missing: str | None = None
    ) -> list[dict[str, Any]]:
        """WAV files through the run's own audio extraction, then the model (one record
        each, id = the file's stem), as `mmcl predict --audio`."""
        from mmcl.evaluation.inference import predict_raw

        files = [Path(w) for w in wavs]
        _, records = predict_raw(self.folder, [f.stem for f in files], None, files, missing)
        return list(records)


def load_run(path: str | Path) -> Run:
    """A run folder (one seed, or several seed-* folders: the validation-best is used)."""
    from mmcl.run_folder import best_seed_dir
    from mmcl.run_folder import load_run as _load

    folder = Path(path)
    seed_dir = best_seed_dir(folder)
    model, _, saved = _load(seed_dir)
    return Run(folder, seed_dir, model, saved)
