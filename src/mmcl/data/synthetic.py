"""Synthetic multimodal data with a planted common + specific signal.

Per sample a common latent c (K-d) and, per modality m, a specific latent s_m (K-d) are drawn.
The target score is u = c + w_specific * sum_m s_m, so one modality alone sees c and its own
s_m but not the others' specific parts: a model that fuses the modalities can explain more of
u than any single-modality model. Each valid time step of modality m carries the common part
(P_m c) with probability `p_signal`, and, independently, the specific part (Q_m s_m), plus
Gaussian noise; P_m, Q_m are random projections to D_m. Padding after the length is zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmcl.data.dataset import Dataset, TaskSpec, check_dataset, make_split
from mmcl.data.presets import IEMOCAP_EMOTIONS, get_preset
from mmcl.errors import UserError
from mmcl.limits import Budget

MODALITY_ALIASES = {"t": "text", "a": "audio", "v": "vision"}


def parse_dims(spec: str) -> dict[str, int]:
    """'t=300,a=74,v=35' -> {'text': 300, 'audio': 74, 'vision': 35}."""
    dims = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not value.strip().isdigit() or int(value) < 1:
            raise UserError(f"--dims: '{part}' is not NAME=WIDTH with a positive width.")
        dims[MODALITY_ALIASES.get(name.strip(), name.strip())] = int(value)
    if not dims:
        raise UserError("--dims: give at least one NAME=WIDTH.")
    return dims


@dataclass
class SynthConfig:
    task: str = "regression"  # regression | iemocap | classification
    n_train: int = 600
    n_valid: int = 200
    n_test: int = 200
    seq_len: int = 12
    dims: dict[str, int] = field(default_factory=lambda: {"text": 32, "audio": 16, "vision": 16})
    num_classes: int = 3
    # modalities that carry the common latent (None: all); e.g. ["audio", "vision"]
    common_modalities: list[str] | None = None
    w_specific: float = 0.8
    p_signal: float = 0.6
    noise: float = 1.0
    min_len_frac: float = 0.5
    unimodal_labels: bool = False
    seed: int = 0


def _task(cfg: SynthConfig) -> tuple[TaskSpec, str | None, int]:
    if cfg.task == "regression":
        return TaskSpec("regression", "mosi", (-3.0, 3.0)), None, 1
    if cfg.task == "iemocap":
        return get_preset("iemocap").task, "iemocap", len(IEMOCAP_EMOTIONS)
    if cfg.task == "classification":
        if cfg.num_classes < 2:
            raise UserError("--num-classes must be at least 2.")
        return (
            TaskSpec("multiclass", "classification", num_classes=cfg.num_classes),
            None,
            cfg.num_classes,
        )
    raise UserError(f"--task must be regression, iemocap or classification, not '{cfg.task}'.")


def make_synthetic(cfg: SynthConfig | None = None) -> Dataset:
    """Build a synthetic `Dataset` (deterministic for a given config and seed)."""
    cfg = cfg or SynthConfig()
    task, preset, k = _task(cfg)
    if cfg.unimodal_labels and task.kind != "regression":
        raise UserError("--unimodal-labels needs --task regression (unimodal labels are scores).")
    sizes = (cfg.n_train, cfg.n_valid, cfg.n_test)
    values = sum(sizes) * cfg.seq_len * sum(cfg.dims.values())
    # float32 data, and float64 temporaries (noise, products, masks) of the largest split
    largest = max(sizes) * (cfg.seq_len * max(cfg.dims.values()) + k * (len(cfg.dims) + 2))
    budget = Budget(
        None,
        "synthetic data of --n-train/--n-valid/--n-test, --seq-len, --dims, --num-classes",
        asked=True,
    )
    budget.charge(4 * values + 32 * largest, "the data")
    rng = np.random.default_rng(cfg.seed)
    mods = list(cfg.dims)
    carriers = set(cfg.common_modalities or mods)
    unknown = carriers - set(mods)
    if unknown:
        raise UserError(f"common modalities {sorted(unknown)} are not among {mods}.")
    proj_c = {m: rng.normal(size=(k, d)) / np.sqrt(k) for m, d in cfg.dims.items()}
    proj_s = {m: rng.normal(size=(k, d)) / np.sqrt(k) for m, d in cfg.dims.items()}
    splits = {}
    for s, n in (("train", cfg.n_train), ("valid", cfg.n_valid), ("test", cfg.n_test)):
        common = rng.normal(size=(n, k))
        specific = {m: rng.normal(size=(n, k)) for m in mods}
        score = common + cfg.w_specific * sum(specific.values())
        feats, lens = {}, {}
        lo = max(1, int(round(cfg.min_len_frac * cfg.seq_len)))
        length = rng.integers(lo, cfg.seq_len + 1, size=n)  # word-aligned: one length per sample
        for m, d in cfg.dims.items():
            steps = np.arange(cfg.seq_len)[None, :] < length[:, None]  # (N, L)
            has_c = (rng.random((n, cfg.seq_len)) < cfg.p_signal) & (m in carriers)
            has_s = rng.random((n, cfg.seq_len)) < cfg.p_signal
            x = (
                has_c[..., None] * (common @ proj_c[m])[:, None, :]
                + has_s[..., None] * (specific[m] @ proj_s[m])[:, None, :]
                + cfg.noise * rng.normal(size=(n, cfg.seq_len, d))
            )
            feats[m] = (x * steps[..., None]).astype(np.float32)
            lens[m] = length
        labels = _labels(cfg.task, score)
        uni = None
        if cfg.unimodal_labels:  # what each modality alone says: its own latents
            uni = {m: _labels("regression", common * (m in carriers) + specific[m]) for m in mods}
        splits[s] = make_split(
            feats,
            labels,
            np.array([f"synth_{s}_{i:05d}" for i in range(n)]),
            f"synthetic [{s}]",
            task,
            lengths=lens,
            unimodal_labels=uni,
            split_name=s,
        )
    ds = Dataset(
        splits, task, name="synthetic", preset=preset, source=f"synthetic(seed={cfg.seed})"
    )
    return check_dataset(ds, "synthetic")


def _labels(task: str, score: np.ndarray) -> np.ndarray:
    if task == "regression":
        z = score[:, 0] / score[:, 0].std()
        # annotator averages come in steps; 0.2 steps also give some exact zeros, as MOSI has
        return np.clip(np.round(1.5 * z * 5) / 5, -3.0, 3.0).astype(np.float32)
    cls = np.argmax(score, axis=1)
    if task == "iemocap":
        return np.eye(score.shape[1], dtype=np.int64)[cls]
    return cls.astype(np.int64)


def parse_modalities(spec: str | None) -> list[str] | None:
    """'a,v' -> ['audio', 'vision'] (None or '' -> None: every modality)."""
    if not spec:
        return None
    return [MODALITY_ALIASES.get(c.strip(), c.strip()) for c in spec.split(",") if c.strip()]


def write_synthetic(cfg: SynthConfig, out: str | Path, fmt: str, overwrite: bool = False) -> Path:
    """Generate `cfg`'s data and write it as `fmt`: native (folder), mmsa or mult (pickle)."""
    from mmcl.data.native import write_native
    from mmcl.data.pickles import write_mmsa, write_mult

    for name in ("n_train", "n_valid", "n_test", "seq_len"):
        if getattr(cfg, name) < 1:
            raise UserError(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}."
            )
    writers = {
        "native": lambda d: write_native(d, out, overwrite),
        "mmsa": lambda d: write_mmsa(d, out),
        "mult": lambda d: write_mult(d, out),
    }
    if fmt not in writers:
        raise UserError(f"--format must be one of {sorted(writers)}, not '{fmt}'.")
    if fmt != "native" and Path(out).exists() and not overwrite:
        raise UserError(f"{out} exists; pass --overwrite or choose another --out.")
    return writers[fmt](make_synthetic(cfg))
