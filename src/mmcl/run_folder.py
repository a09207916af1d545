"""Run folders on disk: one per seed with its resolved config, weights and metrics.

    DIR/seed-<s>/config.json        resolved config, seed, data description, package versions
    DIR/seed-<s>/model.safetensors  the validation-selected weights
    DIR/seed-<s>/metrics.json       valid and test metrics of those weights
    DIR/seed-<s>/log.jsonl          one line per epoch
    DIR/seed-<s>/checkpoint/        last-epoch state for --resume
    DIR/summary.{json,md,csv}       mean and std over seeds

The neutral home of run-folder I/O: training writes these folders, evaluation and the
experiment runners read them. `load_run` rebuilds a model from its folder without the
training code. Every write is atomic (a temporary file, then a rename).
"""

from __future__ import annotations

import functools
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mmcl.config import RunConfig
from mmcl.data.io import atomic_file, give_umask, read_json
from mmcl.errors import UserError
from mmcl.models.base import DataInfo, TaskModel, resolve_device
from mmcl.models.registry import build_model, text_model_path
from mmcl.pretrained import load_text_model

CONFIG, METRICS, WEIGHTS = "config.json", "metrics.json", "model.safetensors"


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (a temp file in the same folder, then a rename)."""
    with atomic_file(path) as f:
        json.dump(obj, f, indent=2, default=float)
        f.write("\n")


def write_text(path: Path, text: str) -> None:
    with atomic_file(path) as f:
        f.write(text)


def safe_name(text: str) -> str:
    """`text` as a file name: every character outside [A-Za-z0-9._-] becomes '_'."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("mmcl", "torch", "numpy", "scikit-learn", "safetensors"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    out["mmcl_commit"] = source_commit()
    return out


@functools.cache
def source_commit() -> str:
    """The git commit of this package's source tree (models change between commits of one
    version), or "unknown" outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def build(cfg: RunConfig, info: DataInfo, pretrained_weights: bool = True) -> TaskModel:
    """The configured model for data described by `info`. A text transformer it fine-tunes
    is loaded here from its local folder; `pretrained_weights=False` builds its architecture
    only (a trained run brings its own weights)."""
    model_cfg = cfg.model_cfg()
    path = text_model_path(model_cfg)
    backbone = None if path is None else load_text_model(path, weights=pretrained_weights)
    return build_model(cfg.model, model_cfg, info, backbone)


def save_weights(model: torch.nn.Module, folder: Path) -> None:
    """The model's weights as safetensors, written beside the target and renamed over it."""
    target = Path(folder) / WEIGHTS
    partial = target.with_name(f".{WEIGHTS}.partial")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(partial))
    give_umask(partial)  # the writer makes it private; outputs get the user's umask
    partial.replace(target)


def load_weights(model: torch.nn.Module, folder: Path, saved_versions: dict | None = None) -> None:
    """The weights file into `model`; a damaged file, or weights of another architecture,
    is a UserError naming the file (and, given the run's recorded versions, the code that
    trained it)."""
    path = Path(folder) / WEIGHTS
    try:
        weights = load_file(str(path))
        # Self-MM runs saved before the shared text front-end kept their transformer here
        old = "text_transformer.model."
        weights = {
            ("text_frontend.model." + k[len(old) :] if k.startswith(old) else k): v
            for k, v in weights.items()
        }
        model.load_state_dict(weights)
        bad = sorted(
            k for k, v in weights.items() if v.is_floating_point() and not v.isfinite().all()
        )
    except (SafetensorError, RuntimeError, OSError) as e:
        made = ""
        if saved_versions is not None:
            then = saved_versions.get("mmcl_commit", "not recorded")
            now = versions()
            made = (
                f" The run was trained with mmcl {saved_versions.get('mmcl', '?')} at commit "
                f"{then}; this is mmcl {now['mmcl']} at commit {now['mmcl_commit']}. If the "
                "model's code changed in between, train the run again or load it with the code "
                "that trained it."
            )
        raise UserError(f"{path}: weights that do not fit this run's model ({e}).{made}") from e
    if bad:
        raise UserError(
            f"{path}: {len(bad)} weight tensors hold NaN or infinite values (e.g. {bad[0]}): the "
            "run diverged, and its predictions would be meaningless. Train it again (a lower "
            "train.lr, or train.grad_clip)."
        )


def seed_dirs(run_dir: Path) -> list[Path]:
    """The seed folders of a multi-seed run, or [run_dir] if it is one seed's folder."""
    run_dir = Path(run_dir)
    if (run_dir / CONFIG).is_file():
        return [check_inside(run_dir, run_dir)]
    dirs = sorted(p for p in run_dir.glob("seed-*") if (p / CONFIG).is_file())
    for d in dirs:
        check_inside(d, run_dir)
    if not dirs:
        raise UserError(f"{run_dir}: not a run folder (no {CONFIG}, no seed-*/{CONFIG}).")
    return dirs


def check_inside(seed_dir: Path, run_dir: Path) -> Path:
    """`seed_dir`, after checking that neither it nor the files read and written in it are
    symbolic links: a run folder never leads reads or writes out of itself."""
    for p in [seed_dir, *seed_dir.iterdir()]:
        if p.is_symlink():
            raise UserError(
                f"{p}: a symbolic link inside the run folder {run_dir}; refused (reads and "
                "writes never leave a run folder). Copy the real files in instead."
            )
    return seed_dir


def _upgraded(core: dict) -> dict:
    """A saved config in today's names: runs saved before `mmcl.ffn_dim` gave the
    feed-forward width as `ff_mult` x d_model."""
    mmcl = core.get("mmcl")
    if core.get("model") == "mmcl" and isinstance(mmcl, dict) and "ff_mult" in mmcl:
        mmcl = dict(mmcl)
        mmcl["ffn_dim"] = int(mmcl.pop("ff_mult")) * int(mmcl.get("d_model", 128))
        core = {**core, "mmcl": mmcl}
    return core


def load_run(run_dir: str | Path) -> tuple[TaskModel, RunConfig, dict]:
    """Rebuild a trained model from a seed folder: config.json + model.safetensors."""
    run_dir = Path(run_dir)
    saved = read_json(run_dir / CONFIG)
    if not (run_dir / WEIGHTS).is_file():
        raise UserError(f"{run_dir}: no {WEIGHTS}; the run did not finish an epoch.")
    if not isinstance(saved, dict) or not isinstance(saved.get("model"), str):
        raise UserError(f"{run_dir / CONFIG}: not a run config (no model name).")
    core = {
        k: saved[k]
        for k in ("model", "data", "preset", "modalities", "train", saved["model"])
        if k in saved
    }
    try:
        cfg = RunConfig.from_dict(_upgraded(core))
        model = build(cfg, data_info_of(saved, run_dir / CONFIG), pretrained_weights=False)
    except UserError as e:
        if str(run_dir / CONFIG) in str(e):
            raise
        raise UserError(f"{run_dir / CONFIG}: {e}") from None
    if cfg.train.normalize:
        model.enable_input_norm()  # its statistics come with the weights
    load_weights(model, run_dir, saved.get("versions", {}))
    # evaluated and predicted where and as it trained (train.device, train.precision)
    model.precision = cfg.train.precision
    model.to_device(resolve_device(cfg.train.device))
    model.eval()
    return model, cfg, saved


def data_info_of(saved: dict, where: Path) -> DataInfo:
    """The `data_info` of a saved config, checked: modality widths and lengths, task."""
    info = saved.get("data_info")
    try:
        parsed = DataInfo.from_dict(info)
        task = parsed.task
        ok = (
            parsed.dims.keys() == parsed.seq_lens.keys()
            and all(
                type(v) is int and v > 0 for v in [*parsed.dims.values(), *parsed.seq_lens.values()]
            )
            and task.kind in ("regression", "multilabel", "multiclass")
            and task.output_dim > 0
        )
    except (KeyError, TypeError, ValueError, AttributeError, UserError):
        ok = False
    if not ok:
        raise UserError(f"{where}: 'data_info' is damaged (widths, lengths or task); retrain.")
    return parsed


def selection_score(metrics: dict) -> float:
    """A finished seed's validation selection value, signed so that larger is better."""
    sel = metrics["selection"]
    value = metrics["valid"][sel["metric"]]
    return value if sel["higher_is_better"] else -value


def best_seed_dir(run_dir: Path) -> Path:
    """The seed folder with the best validation selection score (never the test score)."""
    dirs = seed_dirs(run_dir)
    if len(dirs) == 1:
        return dirs[0]
    scored = [(selection_score(read_json(d / METRICS)), d) for d in dirs if (d / METRICS).is_file()]
    if not scored:
        raise UserError(f"{run_dir}: no finished seed (no {METRICS}).")
    return max(scored, key=lambda t: t[0])[1]
