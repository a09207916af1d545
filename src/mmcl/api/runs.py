"""Trained runs: load one and predict arrays, datasets, texts and audio; `predict` as the
command line does it (a CSV file, or records)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmcl.api.options import data_spec
from mmcl.data.batching import Batch
from mmcl.data.dataset import Dataset, Split
from mmcl.errors import UserError
from mmcl.models.base import TaskModel


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

    def predict_videos(
        self,
        videos: Sequence[str | Path],
        transcripts: Sequence[str | None] | None = None,
        *,
        missing: str | None = None,
    ) -> list[dict[str, Any]]:
        """Video files through the run's own extraction (face features, soundtrack,
        the transcript or else recognised speech), then the model: one record each (id =
        the file's stem), as `mmcl predict --video`."""
        from mmcl.evaluation.inference import predict_raw
        from mmcl.features.video import VideoInput

        files = [Path(v) for v in videos]
        said = list(transcripts) if transcripts is not None else [None] * len(files)
        if len(said) != len(files):
            raise UserError("predict_videos: give one transcript (or None) per video.")
        inputs = [VideoInput(f.stem, f, t) for f, t in zip(files, said, strict=True)]
        ids = [v.id for v in inputs]
        _, records = predict_raw(self.folder, ids, None, None, missing, videos=inputs)
        return list(records)


def load_run(path: str | Path) -> Run:
    """A run folder (one seed, or several seed-* folders: the validation-best is used)."""
    from mmcl.run_folder import best_seed_dir
    from mmcl.run_folder import load_run as _load

    folder = Path(path)
    seed_dir = best_seed_dir(folder)
    model, _, saved = _load(seed_dir)
    return Run(folder, seed_dir, model, saved)


@dataclass
class Predictions:
    """What `predict` made: the seed that predicted, how many rows, and the records
    ({"id", "text", "score", ...}) when they were not written to a CSV file (`out`)."""

    seed_dir: Path
    count: int
    records: list[dict[str, Any]] = field(repr=False)
    out: Path | None = None

    @property
    def text(self) -> str:
        """One JSON line per record, or what was written where."""
        if self.out is not None:
            return f"wrote {self.count} predictions from {self.seed_dir} to {self.out}"
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in self.records)


def predict(
    run: str | Path,
    *,
    out: str | Path | None = None,
    data: str | Path | None = None,
    split: str = "test",
    preset: str | None = None,
    text: str | None = None,
    texts_csv: str | Path | None = None,
    text_col: str = "text",
    id_col: str = "id",
    audio: str | Path | None = None,
    video: str | Path | None = None,
    missing: str | None = None,
    overwrite: bool = False,
) -> Predictions:
    """As `mmcl predict`: one transcript (`text`), a CSV of transcripts or of videos
    (`texts_csv`; columns id, path and optionally `text_col`), a WAV file (`audio`) or a
    video (`video`, with `text` as its transcript, else speech is recognised) through the
    run's own extraction, returned as records or written to the CSV file `out`; without
    raw inputs, the dataset split (`data`, default the run's) into `out`. `missing`
    ("zero" or "mean") fills a modality the inputs cannot give."""
    from mmcl.evaluation.inference import predict_inputs

    def path(p: str | Path | None) -> Path | None:
        return None if p is None else Path(p)

    how = (data_spec(data), split, preset, text, path(texts_csv), text_col, id_col, path(audio))
    seed_dir, n, records = predict_inputs(
        Path(run), path(out), *how, missing, overwrite, path(video)
    )
    return Predictions(seed_dir, n, records, path(out))
