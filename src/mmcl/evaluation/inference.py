"""Evaluate and predict with a trained run on any dataset whose modalities and widths match."""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mmcl.data.dataset import DataError, Dataset, Split, TaskSpec, make_split
from mmcl.data.io import atomic_file, csv_cell
from mmcl.data.loader import load_data
from mmcl.evaluation.metrics import evaluate
from mmcl.models.base import TaskModel
from mmcl.progress import progress
from mmcl.run_folder import best_seed_dir, load_run, safe_name, seed_dirs, write_json, write_text


def compatible_data(ds: Dataset, saved: dict, where: str) -> Dataset:
    """The run's modalities of `ds`, checked against what the run was trained on."""
    dims = saved["data_info"]["dims"]
    missing = [m for m in dims if m not in ds.modalities]
    if missing:
        raise DataError(
            f"{where}: the run was trained on modalities {list(dims)}, the data lacks {missing}."
        )
    wrong = {m: (dims[m], ds.dims()[m]) for m in dims if ds.dims()[m] != dims[m]}
    if wrong:
        detail = ", ".join(f"{m} trained {a}-d, data {b}-d" for m, (a, b) in wrong.items())
        raise DataError(f"{where}: feature widths differ ({detail}); extract matching features.")
    task = TaskSpec.from_dict(saved["data_info"]["task"])
    if (task.kind, task.output_dim) != (ds.task.kind, ds.task.output_dim):
        raise DataError(
            f"{where}: the run predicts a {task.kind} task with {task.output_dim} outputs; "
            f"the data is {ds.task.kind} with {ds.task.output_dim}."
        )
    return ds.select_modalities(list(dims))


def load_for(
    run: Path, data: str | None, preset: str | None, cache: dict | None = None
) -> tuple[TaskModel, dict, Dataset]:
    """The run's model and the data to feed it (`data`, else the data it was trained on);
    `cache` keeps datasets already loaded for other seeds of the same run."""
    model, cfg, saved = load_run(run)
    spec = data or cfg.data
    key = (spec, preset or (cfg.preset or None))
    if cache is None or key not in cache:
        ds = load_data(*key)  # the training seed is not the data's: synthetic data is seed 0
        if cache is not None:
            cache[key] = ds
    else:
        ds = cache[key]
    return model, saved, compatible_data(ds, saved, str(spec))


def evaluate_run(
    run_dir: Path, data: str | None, split: str, preset: str | None = None
) -> list[dict]:
    """Metrics of every seed folder under `run_dir` on `split`; writes eval-<split>.json
    (the run's own data) or eval-<split>-<data>.json (other data: see `eval_file_name`)."""
    results, cache = [], {}
    for d in seed_dirs(run_dir):
        model, saved, ds = load_for(d, data, preset, cache)
        if split not in ds.splits:
            raise DataError(f"--split must be one of {sorted(ds.splits)}, not '{split}'.")
        sp = ds.splits[split]
        metrics = evaluate(ds.task.metric_set, model.predict(sp), sp.labels)
        record = {
            "run": str(d),
            "data": ds.source,
            "split": split,
            "seed": saved.get("seed"),
            "metrics": metrics,
        }
        write_json(d / eval_file_name(split, data, saved.get("data")), record)
        results.append(record)
    return results


def eval_file_name(split: str, data: str | None, trained_on: str | None) -> str:
    """eval-<split>.json on the data the run was trained on; on other data the name also
    holds the data's folder name and a short hash of its full path, so that evaluating one
    run on several sets keeps every result."""
    if data is None or _same_data(data, trained_on):
        return f"eval-{split}.json"
    name = safe_name(Path(data).name)
    digest = hashlib.sha1(str(Path(data).resolve()).encode()).hexdigest()[:6]
    return f"eval-{split}-{name}-{digest}.json"


def _same_data(a: str, b: str | None) -> bool:
    if b is None:
        return False
    if "synthetic" in (a, b):
        return a == b
    return Path(a).resolve() == Path(b).resolve()


def predictions_csv(ds: Dataset, split: str, preds: np.ndarray) -> str:
    """id, prediction (and per-class probabilities), and the label where known."""
    sp, task = ds.splits[split], ds.task
    labels = _label_strings(sp.labels, task)
    if task.kind == "regression":
        header = ["id", "prediction", "polarity"]
        rows = [
            [f"{p:.6f}", "positive" if p > 0 else ("negative" if p < 0 else "neutral")]
            for p in preds
        ]
    elif task.kind == "multilabel":
        names = task.label_names or []
        probs = _softmax(preds)[..., 1]  # (N, K): probability of "is"
        header = ["id", "prediction", *[f"p_{n}" for n in names]]
        rows = [
            [
                ";".join(n for n, q in zip(names, p, strict=True) if q > 0.5),
                *[f"{q:.6f}" for q in p],
            ]
            for p in probs
        ]
    else:
        probs = _softmax(preds)
        header = ["id", "prediction", *[f"p_{c}" for c in range(probs.shape[1])]]
        rows = [[int(p.argmax()), *[f"{q:.6f}" for q in p]] for p in probs]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*header, "label"])
    for i, row, lab in zip(sp.ids, rows, labels, strict=True):
        w.writerow([csv_cell(str(i)), *row, lab])
    return buf.getvalue()


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _label_strings(labels: np.ndarray, task: TaskSpec) -> list[str]:
    if task.kind == "regression":
        return [f"{y:.6f}" for y in labels]
    if task.kind == "multilabel":
        names = task.label_names or []
        return [";".join(n for n, v in zip(names, row, strict=True) if v) for row in labels]
    return [str(int(y)) for y in labels]


def predict_run(
    run_dir: Path, data: str | None, split: str, out: Path, preset: str | None = None
) -> tuple[Path, int]:
    """Write the validation-best seed's predictions on `split` to the CSV file `out`;
    returns the seed folder and the number of predictions."""
    d = best_seed_dir(run_dir)
    model, _, ds = load_for(d, data, preset)
    if split not in ds.splits:
        raise DataError(f"--split must be one of {sorted(ds.splits)}, not '{split}'.")
    preds = model.predict(ds.splits[split])
    write_text(out, predictions_csv(ds, split, preds))
    return d, len(preds)


def predict_inputs(
    run_dir: Path,
    out: Path | None = None,
    data: str | None = None,
    split: str = "test",
    preset: str | None = None,
    text: str | None = None,
    texts_csv: Path | None = None,
    text_col: str = "text",
    id_col: str = "id",
    audio: Path | None = None,
    missing: str | None = None,
    overwrite: bool = False,
    video: Path | None = None,
) -> tuple[Path, int, list[dict]]:
    """Predict one transcript (`text`), a CSV of them or of videos (`texts_csv`), a WAV
    file (`audio`) or a video (`video`, with `text` as its transcript), written to the CSV
    file `out` when given; without raw inputs, predict the dataset split into `out`.
    Returns the seed folder, the count and the raw-input records."""
    from mmcl.features.video import VideoInput, list_videos

    if out is not None and (out.exists() or out.is_symlink()) and not overwrite:
        kind = "a folder" if out.is_dir() else "a file"
        raise DataError(f"--out {out}: {kind} exists; choose another path, or add --overwrite.")
    texts, videos = None, None
    if video is not None:
        ids, videos = [video.stem], [VideoInput(video.stem, video, text)]
    elif text is not None:
        texts, ids = [text], ["input"]
    elif texts_csv is not None and _lists_videos(texts_csv):
        videos = list_videos(texts_csv, option="--in")  # as extract video reads it
        ids = [v.id for v in videos]
    elif texts_csv is not None:
        from mmcl.features.text import read_texts

        texts, ids = read_texts(texts_csv, text_col, id_col)
        if not ids:
            raise DataError(f"--in {texts_csv}: the file holds no rows to predict.")
    elif audio is not None:
        ids = [audio.stem]
    elif out is None:
        raise DataError("--out is required when predicting a dataset split.")
    else:
        return (*predict_run(run_dir, data, split, out, preset), [])
    wavs = None if audio is None else [audio] * len(ids)
    seed_dir, records = predict_raw(run_dir, ids, texts, wavs, missing, videos=videos)
    if out is None:
        records = list(records)
        return seed_dir, len(records), records
    n = 0
    with atomic_file(out) as f:  # a failure half-way leaves no partial file
        writer = None
        for r in records:
            if writer is None:
                writer = csv.DictWriter(f, fieldnames=list(r))
                writer.writeheader()
            writer.writerow({k: csv_cell(v) for k, v in r.items()})
            n += 1
    return seed_dir, n, []


def _lists_videos(path: Path) -> bool:
    """Whether the CSV file `path` lists videos (a `path` column), not transcripts."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return "path" in next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False  # the transcript reader reports what is wrong with it


# raw inputs encoded and predicted at a time: memory stays flat however many are given
RAW_CHUNK = 1024
# what each kind of recorded extraction can be made from
MADE_FROM = {
    "text-transformer": "--text/--in transcripts or --video",
    "audio": "--audio or --video",
    "vision-face": "--video",
}


def predict_raw(
    run_dir: Path,
    ids: list[str],
    texts: list[str] | None = None,
    wavs: list[Path] | None = None,
    missing: str | None = None,
    chunk: int = RAW_CHUNK,
    videos: list | None = None,
) -> tuple[Path, Iterator[dict]]:
    """Predict from raw transcripts, WAV files and/or videos with the feature extraction
    the run's data recorded (text, audio and face features). A modality the run needs but
    the input cannot provide is a clear error naming it, unless `missing` says what to
    feed instead: "zero" (one zero step) or "mean" (one step of the training split's mean
    features), with a warning; the records say so. Returns the seed folder and the records,
    made `chunk` inputs at a time as they are read (checks and warnings come first)."""
    d = best_seed_dir(run_dir)
    model, _, saved = load_run(d)
    dims = saved["data_info"]["dims"]
    extraction = saved.get("data_extraction", {})
    can = {
        "text-transformer": texts is not None or videos is not None,
        "audio": wavs is not None or videos is not None,
        "vision-face": videos is not None,
    }
    lacking = {m: extraction.get(m, {}).get("kind", "unknown") for m in dims}
    lacking = {m: k for m, k in lacking.items() if not can.get(k, False)}
    if lacking and missing is None:
        made = "; ".join(f"{k} features from {v}" for k, v in MADE_FROM.items())
        raise DataError(
            f"{d}: the run was trained on modalities {list(dims)}; the input lacks {lacking} "
            f"(raw input can give {made}). Pass --missing zero|mean to feed a neutral value "
            'for it, or train on what you can give, e.g. --set modalities=["text"].'
        )
    if missing not in (None, "zero", "mean"):
        raise DataError(f"--missing must be zero or mean, not '{missing}'.")
    for m in lacking:
        _neutral(saved, m, missing, 0, d)  # refuses --missing mean without recorded means
        warnings.warn(
            f"the input has no {m}: fed {missing} features for it (--missing {missing}); "
            "predictions rest on the other modalities only.",
            stacklevel=2,
        )
    task = TaskSpec.from_dict(saved["data_info"]["task"])
    note = ";".join(f"{m}={missing}" for m in lacking)

    def records() -> Iterator[dict]:
        starts = range(0, len(ids), chunk)
        for start in progress(starts, len(starts), "predictions", "chunk", len(starts) > 1):
            part = slice(start, start + chunk)
            split, shown = _raw_split(
                saved,
                task,
                d,
                ids[part],
                texts and texts[part],
                wavs and wavs[part],
                lacking,
                missing,
                videos and videos[part],
            )
            for i, t, p in zip(ids[part], shown, model.predict(split), strict=True):
                r = _prediction_record(i, t, p, task)
                if note:
                    r["missing"] = note
                yield r

    return d, records()


def _raw_split(
    saved: dict,
    task: TaskSpec,
    run: Path,
    ids: list[str],
    texts: list[str] | None,
    wavs: list[Path] | None,
    lacking: dict[str, str],
    missing: str | None,
    videos: list | None = None,
) -> tuple[Split, list[str]]:
    """A split of raw inputs, their features extracted as the run's data recorded, and
    what each record shows as its text (the transcript used, or the input's path)."""
    dims = saved["data_info"]["dims"]
    extraction = saved.get("data_extraction", {})
    need = {extraction[m]["kind"]: extraction[m] for m in dims if m not in lacking}
    made: dict[str, list] = {}
    if videos:
        from mmcl.features.video import video_inputs

        made = dict(zip(("vision-face", "audio", "text-transformer"),
                        map(list, zip(*video_inputs(videos, need, "--video"), strict=True)),
                        strict=True))  # fmt: skip
        texts = made["text-transformer"] if "text-transformer" in need else None
    elif wavs is not None:
        made["audio"] = [wav_audio(w, need["audio"]) for w in wavs] if "audio" in need else []
    features, lengths, tokens, token_lengths = {}, {}, None, None
    n = len(ids)
    for m in dims:
        kind = extraction.get(m, {}).get("kind")
        if m in lacking:
            features[m] = _neutral(saved, m, missing, n, run)
            lengths[m] = np.ones(n, dtype=np.int64)
        elif kind == "text-transformer":
            from mmcl.features.text import encode_texts

            spec = need[kind]
            path = "" if spec.get("model") in (None, "minilm") else spec["model"]
            feats, lens, _, toks = encode_texts(texts, path, int(spec["max_len"]), progress=False)
            features[m], lengths[m], tokens, token_lengths = feats, lens, toks, lens
        else:
            from mmcl.features.audio import pad_frames

            features[m], lengths[m] = pad_frames(made[kind])
    dummy = (
        np.zeros(n, np.float32)
        if task.kind == "regression"
        else np.zeros(
            (n, len(task.label_names or [])) if task.kind == "multilabel" else n, np.int64
        )
    )
    split = make_split(
        features,
        dummy,
        np.array(ids),
        "input",
        TaskSpec(task.kind, task.metric_set, None, task.num_classes, task.label_names),
        lengths=lengths,
        tokens=tokens,
        token_lengths=token_lengths,
    )
    shown = texts or [str(v.path) for v in videos or []] or [str(w) for w in wavs or []]
    return split, shown


def _neutral(saved: dict, m: str, missing: str, n: int, run: Path) -> np.ndarray:
    """(n, 1, D) features of modality m for input that lacks it: zeros, or the training
    split's mean features (recorded in config.json by training)."""
    dim = saved["data_info"]["dims"][m]
    if missing == "zero":
        return np.zeros((n, 1, dim), dtype=np.float32)
    means = saved.get("feature_means", {}).get(m)
    if means is None:
        raise DataError(
            f"{run}: no training mean of {m} recorded (trained by an earlier version); "
            "use --missing zero."
        )
    return np.broadcast_to(np.asarray(means, dtype=np.float32), (n, 1, dim)).copy()


def wav_audio(wav: Path, spec: dict) -> np.ndarray:
    """(T, D) audio features of a WAV file, as the run's data recorded them."""
    from mmcl.features.audio import audio_params, wav_features

    if not Path(wav).is_file():
        raise DataError(f"--audio {wav}: no such file.")
    return wav_features(Path(wav), audio_params(spec), "--audio")


def _prediction_record(sample_id: str, text: str, pred: np.ndarray, task: TaskSpec) -> dict:
    record: dict = {"id": sample_id, "text": text}
    if task.kind == "regression":
        score = float(pred)
        record.update(
            score=score,
            polarity="positive" if score > 0 else "negative" if score < 0 else "neutral",
        )
    elif task.kind == "multilabel":
        probs = _softmax(pred)[:, 1]
        names = task.label_names or []
        record.update({f"p_{n}": float(q) for n, q in zip(names, probs, strict=True)})
        record["prediction"] = ";".join(n for n, q in zip(names, probs, strict=True) if q > 0.5)
    else:
        probs = _softmax(pred)
        record.update({f"p_{c}": float(q) for c, q in enumerate(probs)})
        record["prediction"] = int(probs.argmax())
    return record
