"""The one in-memory representation of a multimodal dataset, and its validation.

Every reader (MMSA, MulT, CMU .csd, native) produces a `Dataset`; every model and metric
consumes one. Features are numpy arrays so that the native format can be memory-mapped;
batching turns them into torch tensors.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from mmcl.data.table_rows import TableRows, rows_per_block
from mmcl.errors import UserError

SPLITS = ("train", "valid", "test")
TaskKind = Literal["regression", "multilabel", "multiclass"]


class DataError(UserError):
    """A user's data file does not hold what it should. The message says where and what to do."""


@dataclass
class TaskSpec:
    """What the labels mean.

    regression: labels (N,) float within `label_range`.
    multilabel: labels (N, K) in {0, 1}, one binary task per name in `label_names`
                (IEMOCAP: Neutral, Happy, Sad, Angry).
    multiclass: labels (N,) int in [0, num_classes).
    `metric_set` names the metric set of `mmcl.evaluation.metrics.evaluate`.
    """

    kind: TaskKind
    metric_set: str
    label_range: tuple[float, float] | None = None
    num_classes: int | None = None
    label_names: list[str] | None = None

    @property
    def output_dim(self) -> int:
        """Width of a model's prediction head for this task."""
        if self.kind == "regression":
            return 1
        if self.kind == "multilabel":
            return 2 * len(self.label_names or [])
        return int(self.num_classes or 0)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "metric_set": self.metric_set,
            "label_range": list(self.label_range) if self.label_range else None,
            "num_classes": self.num_classes,
            "label_names": self.label_names,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TaskSpec:
        """The task a file records; a malformed one is a DataError naming the field."""
        if not isinstance(d, dict):
            raise DataError(f"'task' must be an object, not {d!r}.")
        rng = d.get("label_range")
        checks = {
            "kind": d.get("kind") in ("regression", "multilabel", "multiclass"),
            "metric_set": isinstance(d.get("metric_set", d.get("metrics")), str),
            "label_range": rng is None
            or (
                isinstance(rng, list)
                and len(rng) == 2
                and all(isinstance(v, int | float) and math.isfinite(v) for v in rng)
            ),
            "num_classes": d.get("num_classes") is None
            or (type(d["num_classes"]) is int and 2 <= d["num_classes"] <= 100_000),
            "label_names": d.get("label_names") is None
            or (
                isinstance(d["label_names"], list)
                and all(isinstance(n, str) for n in d["label_names"])
            ),
        }
        wrong = [k for k, ok in checks.items() if not ok]
        if wrong:
            raise DataError(f"task.{wrong[0]} = {d.get(wrong[0])!r} is not valid.")
        return cls(
            kind=d["kind"],
            # "metrics": its name in files written by earlier versions
            metric_set=d["metric_set"] if "metric_set" in d else d["metrics"],
            label_range=tuple(rng) if rng else None,
            num_classes=d.get("num_classes"),
            label_names=d.get("label_names"),
        )


@dataclass
class Split:
    """One split: per modality a float array (N, L_m, D_m) with lengths (N,); labels; ids."""

    features: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    labels: np.ndarray
    ids: np.ndarray
    raw_text: np.ndarray | None = None
    unimodal_labels: dict[str, np.ndarray] | None = None
    # word-piece ids of the text (N, L_tok), 0-padded, for models that fine-tune a text
    # transformer (MMSA's text_bert ids; `mmcl extract text` writes them too)
    tokens: np.ndarray | None = None
    token_lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def step_moments(self, chunk: int = 256) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per modality, the mean and (population) standard deviation of each feature over
        the unpadded steps, in float64. Read `chunk` rows at a time, so that memory-mapped
        features are never held whole; chunks are merged by Chan et al.'s pairwise update
        (no cancellation from a sum of squares)."""
        moments = {}
        for m, x in self.features.items():
            n, mean, m2 = 0, np.zeros(x.shape[2]), np.zeros(x.shape[2])
            steps = np.arange(x.shape[1])
            for start in range(0, len(x), chunk):
                block = np.asarray(x[start : start + chunk], dtype=np.float64)
                rows = block[steps[None, :] < self.lengths[m][start : start + chunk, None]]
                if not len(rows):
                    continue
                k, block_mean = len(rows), rows.mean(0)
                delta = block_mean - mean
                m2 += ((rows - block_mean) ** 2).sum(0) + delta**2 * n * k / (n + k)
                mean += delta * k / (n + k)
                n += k
            moments[m] = (mean, np.sqrt(m2 / max(n, 1)))
        return moments

    def subset(self, index: np.ndarray) -> Split:
        """Rows `index` of every array (a copy)."""
        return Split(
            features={m: np.asarray(x[index]) for m, x in self.features.items()},
            lengths={m: np.asarray(x[index]) for m, x in self.lengths.items()},
            labels=np.asarray(self.labels[index]),
            ids=np.asarray(self.ids[index]),
            raw_text=None if self.raw_text is None else np.asarray(self.raw_text[index]),
            unimodal_labels=None
            if self.unimodal_labels is None
            else {m: np.asarray(y[index]) for m, y in self.unimodal_labels.items()},
            tokens=None if self.tokens is None else np.asarray(self.tokens[index]),
            token_lengths=None if self.tokens is None else np.asarray(self.token_lengths[index]),
        )


@dataclass
class Dataset:
    """Splits train/valid/test sharing modalities, widths and task."""

    splits: dict[str, Split]
    task: TaskSpec
    name: str = "dataset"
    preset: str | None = None
    source: str = ""
    # (split, modality) -> number of NaN/inf values replaced by 0 at load time
    cleaned: dict[str, int] = field(default_factory=dict)
    # modality -> how its features were made (e.g. {"kind": "text-transformer", "model": ...,
    # "max_len": 50}); `mmcl predict --text` repeats it on raw inputs
    extraction: dict[str, dict] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return list(self.splits["train"].features)

    def dims(self) -> dict[str, int]:
        return {m: int(x.shape[2]) for m, x in self.splits["train"].features.items()}

    def seq_lens(self) -> dict[str, int]:
        return {m: int(x.shape[1]) for m, x in self.splits["train"].features.items()}

    def sizes(self) -> str:
        """'train 60, valid 20, test 20'."""
        return ", ".join(f"{s} {len(sp)}" for s, sp in self.splits.items())

    def text_features(self) -> str | None:
        """Which text features the data holds, as far as can be told: 'minilm' (recorded
        by `mmcl extract text`/`data import`, or 384-d), 'bert' (768-d), or None."""
        if "text" not in self.modalities:
            return None
        made_with = str(self.extraction.get("text", {}).get("model", "")).lower()
        if made_with:
            return "minilm" if "minilm" in made_with else made_with
        return {768: "bert", 384: "minilm"}.get(self.dims()["text"])

    def select_modalities(self, names: list[str]) -> Dataset:
        missing = [m for m in names if m not in self.modalities]
        if missing:
            raise DataError(
                f"{self.source or self.name}: modalities {missing} not in the data; "
                f"it has {self.modalities}. Choose from those."
            )
        splits = {
            s: replace(
                sp,
                features={m: sp.features[m] for m in names},
                lengths={m: sp.lengths[m] for m in names},
            )
            for s, sp in self.splits.items()
        }
        return replace(self, splits=splits, cleaned=dict(self.cleaned))


def random_split(n: int, seed: int, strata: list | None = None) -> dict[str, np.ndarray]:
    """Seeded 70/15/15 split of n rows for sources with none: split -> row indices.
    With `strata` (one value per row), each stratum is split 70/15/15 on its own, so rare
    classes (e.g. severe PHQ levels) reach every split."""
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(n)]
        if strata is None
        else [np.flatnonzero(np.asarray(strata) == v) for v in sorted(set(strata))]
    )
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for rows in groups:
        order = rng.permutation(rows)
        cut = (int(0.7 * len(order)), int(0.85 * len(order)))
        for s, chunk in zip(SPLITS, np.split(order, cut), strict=True):
            parts[s].append(chunk)
    return {s: np.sort(np.concatenate(chunks)) for s, chunks in parts.items()}


def clean_features(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace NaN and +-inf by 0 (MulT audio holds them); return the array and the count.
    Counted in blocks of samples, so a memory-mapped array is never held in memory whole;
    only an array that has such values is copied."""
    step = rows_per_block(x)
    n_bad = sum(int((~np.isfinite(x[i : i + step])).sum()) for i in range(0, len(x), step))
    if n_bad:
        x = np.where(np.isfinite(x), x, 0.0).astype(x.dtype, copy=False)
    return x, n_bad


def as_feature_array(x: object, where: str) -> np.ndarray:
    """Coerce a features array to float32 (N, L, D); 2-D input is one step per sample.
    Rows of a float32 feature table stay unread (they are gathered when used)."""
    if isinstance(x, TableRows) and x.dtype == np.float32 and x.ndim == 3:
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise DataError(
            f"{where}: expected a numeric feature array, found dtype {arr.dtype}. "
            "Features must be float arrays of shape (N, L, D)."
        )
    if arr.ndim == 2:  # utterance-level features: a sequence of length 1
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise DataError(f"{where}: expected shape (N, L, D) or (N, D), found {arr.shape}.")
    return arr.astype(np.float32, copy=False)


def make_split(
    features: dict[str, object],
    labels: object,
    ids: object | None,
    where: str,
    task: TaskSpec,
    lengths: dict[str, object] | None = None,
    raw_text: object | None = None,
    unimodal_labels: dict[str, object] | None = None,
    cleaned: dict[str, int] | None = None,
    split_name: str = "",
    tokens: object | None = None,
    token_lengths: object | None = None,
) -> Split:
    """Build a validated `Split`; `where` names the file and split for error messages."""
    if not features:
        raise DataError(f"{where}: no modality found. A split needs at least one feature array.")
    feats: dict[str, np.ndarray] = {}
    for m, x in features.items():
        arr = as_feature_array(x, f"{where}, modality '{m}'")
        arr, n_bad = clean_features(arr)
        if cleaned is not None and n_bad:
            cleaned[f"{split_name}/{m}"] = cleaned.get(f"{split_name}/{m}", 0) + n_bad
        feats[m] = arr
    n = {m: x.shape[0] for m, x in feats.items()}
    if len(set(n.values())) != 1:
        raise DataError(
            f"{where}: modalities disagree on the number of samples: {n}. "
            "Every modality must have one row per sample."
        )
    n_samples = next(iter(n.values()))
    if n_samples == 0:
        raise DataError(f"{where}: the split is empty (0 samples). Every split needs samples.")
    lens: dict[str, np.ndarray] = {}
    for m, x in feats.items():
        given = None if lengths is None else lengths.get(m)
        if given is None:
            lens[m] = np.full(n_samples, x.shape[1], dtype=np.int64)
            continue
        arr = np.asarray(given)
        if arr.dtype.kind not in "iuf" or arr.shape != (n_samples,):
            raise DataError(
                f"{where}: '{m}' lengths must be integers of shape ({n_samples},), "
                f"found dtype {arr.dtype} shape {arr.shape}."
            )
        arr = arr.astype(np.int64)
        if arr.max() > x.shape[1] or arr.min() < 0:
            bad = int(np.argmax((arr > x.shape[1]) | (arr < 0)))
            raise DataError(
                f"{where}: '{m}' length {arr[bad]} of sample {bad} is outside "
                f"[0, padded length {x.shape[1]}]. Lengths count the unpadded steps."
            )
        # A zero length would leave nothing to attend to; such samples keep one (padded) step.
        lens[m] = np.maximum(arr, 1)
    y = _check_labels(labels, n_samples, where, task)
    id_arr = (
        np.array([f"{i}" for i in range(n_samples)])
        if ids is None
        else np.asarray(ids).astype(str).reshape(-1)
    )
    if id_arr.shape[0] != n_samples:
        raise DataError(f"{where}: {id_arr.shape[0]} ids for {n_samples} samples.")
    text = None if raw_text is None else np.asarray(raw_text).astype(str).reshape(-1)
    uni = None
    if unimodal_labels:
        uni = {}
        for m, v in unimodal_labels.items():
            uni[m] = _check_labels(v, n_samples, f"{where}, unimodal label '{m}'", task)
    tok, tok_lens = _check_tokens(tokens, token_lengths, n_samples, where)
    return Split(feats, lens, y, id_arr, text, uni, tok, tok_lens)


def _check_tokens(
    tokens: object | None, lengths: object | None, n: int, where: str
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if tokens is None:
        return None, None
    tok = np.asarray(tokens)
    if tok.ndim != 2 or tok.shape[0] != n or tok.dtype.kind not in "iu":
        raise DataError(
            f"{where}: token ids must be integers of shape ({n}, L); found {tok.dtype} {tok.shape}."
        )
    if lengths is None:
        lens = np.full(n, tok.shape[1], dtype=np.int64)
    else:
        lens = np.asarray(lengths).astype(np.int64)
        if lens.shape != (n,) or lens.max() > tok.shape[1]:
            raise DataError(f"{where}: token lengths must be ({n},) and at most {tok.shape[1]}.")
    return tok.astype(np.int64), np.maximum(lens, 1)


def _check_labels(labels: object, n: int, where: str, task: TaskSpec) -> np.ndarray:
    y = np.asarray(labels)
    if y.dtype.kind not in "fiub":
        raise DataError(f"{where}: labels must be numeric, found dtype {y.dtype}.")
    if y.shape[0] != n:
        raise DataError(f"{where}: {y.shape[0]} labels for {n} samples.")
    if not np.all(np.isfinite(y)):
        raise DataError(f"{where}: labels contain NaN or inf; remove or fix those samples.")
    if task.kind == "regression":
        y = y.reshape(n, -1)
        if y.shape[1] != 1:
            raise DataError(
                f"{where}: regression labels must be one score per sample, found {y.shape}."
            )
        y = y[:, 0].astype(np.float32)
        if task.label_range is not None:
            lo, hi = task.label_range
            if y.min() < lo - 1e-6 or y.max() > hi + 1e-6:
                raise DataError(
                    f"{where}: labels span [{y.min():.3g}, {y.max():.3g}], outside the task's "
                    f"range [{lo}, {hi}]. Pick the right --preset or fix the labels."
                )
        return y
    if task.kind == "multilabel":
        k = len(task.label_names or [])
        if y.ndim == 3 and y.shape[1:] == (k, 2):  # MulT one-hot pairs [not, is]
            y = y.argmax(-1)
        if y.shape != (n, k):
            raise DataError(
                f"{where}: expected multi-label labels of shape ({n}, {k}), found {y.shape}."
            )
        if not np.isin(y, (0, 1)).all():
            raise DataError(f"{where}: multi-label labels must be 0 or 1.")
        return y.astype(np.int64)
    y = y.reshape(-1)
    if y.shape[0] != n or not np.all(np.equal(np.mod(y, 1), 0)):
        raise DataError(f"{where}: class labels must be one integer per sample.")
    y = y.astype(np.int64)
    c = task.num_classes or 0
    if y.min() < 0 or y.max() >= c:
        raise DataError(
            f"{where}: class labels span [{y.min()}, {y.max()}], outside [0, {c - 1}] for "
            f"{c} classes."
        )
    return y


def check_dataset(ds: Dataset, where: str) -> Dataset:
    """Cross-split checks: all splits present, same modalities and widths. Warns on cleaning."""
    for s in SPLITS:
        if s not in ds.splits:
            raise DataError(
                f"{where}: split '{s}' is missing; found {sorted(ds.splits)}. "
                "Provide train, valid and test splits."
            )
    ref = ds.splits["train"]
    for s in SPLITS[1:]:
        sp = ds.splits[s]
        if set(sp.features) != set(ref.features):
            missing = sorted(set(ref.features) - set(sp.features))
            extra = sorted(set(sp.features) - set(ref.features))
            raise DataError(
                f"{where}: split '{s}' modalities differ from train: "
                f"missing {missing}, extra {extra}."
            )
        for m, x in sp.features.items():
            if x.shape[2] != ref.features[m].shape[2]:
                raise DataError(
                    f"{where}: modality '{m}' is {ref.features[m].shape[2]}-d in train but "
                    f"{x.shape[2]}-d in '{s}'."
                )
    if ds.cleaned:
        total = sum(ds.cleaned.values())
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(ds.cleaned.items()))
        warnings.warn(
            f"{where}: replaced {total} NaN/inf feature values by 0 ({detail}).",
            stacklevel=2,
        )
    return ds
