"""Regenerate docs/results.md: every experiment it reports, run (or resumed) from scratch.

    .venv/bin/python scripts/make_results.py [--out runs/results] [--seeds K] [--jobs 2]

Each experiment is a grid of `src/mmcl/recipes/grids/` run by the same grid runner as
`mmcl compare` and `mmcl ablate`. Runs are kept under --out; a second call resumes them and
only rewrites the document (delete --out after changing the code, or old runs are reused;
the commit each experiment was trained at is recorded and printed in the document).

The light part of every finished run (its config, per-epoch log and metrics; each row's
summary; each table's compare.json and robustness cache; no weights, no data) is copied into
results/runs/, which is kept in git: a full regeneration outlasts a working session on two
cores, and a fresh checkout resumes from those records (a run with its metrics is finished)
and rewrites the document without retraining. `--save-records` copies them while a long
grid is still running. A table whose runs have no records (they predate results/runs) is
carried over from the current document, marked as such, until `--only FOLDER` retrains it;
its claims are not rechecked until then.

A long regeneration runs best from a git worktree of the commit to measure (the spawned
workers import the package from the checkout they run in, so editing the main checkout
mid-run would change the code under them) with `--out` in the main checkout; from the main
checkout, `--save-records` then keeps what has finished and `--doc-only` writes the document
(both write into the checkout the script runs from).

Every number in docs/results.md is computed here from these runs: the tables and the
sentences under them. The hand-written reading of the results lives apart, in a dated file
(docs/results-interpretation-*.md) whose claims are listed in docs/results-claims.toml;
every claim is checked against the new runs, and a claim that no longer holds fails this
script (exit code 1) after the document is written, naming the claim.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmcl.data.dataset import Dataset
from mmcl.data.loader import load_data
from mmcl.data.synthetic import SynthConfig, write_synthetic
from mmcl.evaluation.baselines import constant_predictions, linear_floor
from mmcl.evaluation.inference import load_for
from mmcl.evaluation.metrics import evaluate, higher_is_better
from mmcl.evaluation.plots import pyplot, save_figure
from mmcl.evaluation.report import paired_pvalues
from mmcl.evaluation.robustness import robustness_report
from mmcl.experiments.grid import folder_name, load_grid, run_grid_on
from mmcl.features.importers import import_dataset
from mmcl.run_folder import read_json, seed_dirs, source_commit, write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MMCL_SHARED_DATA", ROOT.parent / "shared" / "data"))
SHARED_NAME = {"cmdc": "cmdc_like"}
DOC = ROOT / "docs" / "results.md"
FIGURE = ROOT / "docs" / "figures" / "results-real.png"
CLAIMS = ROOT / "docs" / "results-claims.toml"
RECORDS = ROOT / "results" / "runs"
SEED_RECORDS = ("config.json", "metrics.json", "log.jsonl")
CARRIED = "*Carried over unchanged"  # how a carried-over table's note begins
ALPHA = 0.05  # the significance level of every sentence and claim


@dataclass
class Experiment:
    """One grid on one dataset, and how the document shows it."""

    folder: str  # under --out
    grid: str  # a grid of src/mmcl/recipes/grids
    data: str  # a real set's name (imported from ../shared/data) or a synthetic set's
    key: str  # the metric the sentences and the summary figure use
    title: str
    real: bool = True  # real sets get floor rows and a panel in the summary figure
    robustness: list[str] = field(default_factory=list)  # rows run under perturbations
    goal: dict[str, float] = field(default_factory=dict)  # a target for the best row's means


EXPERIMENTS = [
    Experiment(
        "mosi-compare",
        "mosi_compare",
        "mosi",
        "Non0_acc_2",
        "CMU-MOSI: MiniLM text token states and the utterance-level audio vector",
        robustness=["mmcl", "mmcl:variant=reference", "self_mm", "late_fusion", "tfr_net"],
    ),
    Experiment(
        "mosi-finetune",
        "mosi_finetune",
        "mosi",
        "Non0_acc_2",
        "CMU-MOSI: MiniLM fine-tuned on the token ids (top two layers) and the audio vector",
        goal={"Non0_acc_2": 0.82, "Corr": 0.75},  # issue 13's goal for the best model
    ),
    Experiment(
        "mosi-finetune-full",
        "mosi_finetune_full",
        "mosi",
        "Non0_acc_2",
        "CMU-MOSI: Self-MM with the whole MiniLM fine-tuned on the token ids",
        goal={"Non0_acc_2": 0.82, "Corr": 0.75},
    ),
    Experiment(
        "mosi-finetune-whole",
        "mosi_finetune_whole",
        "mosi",
        "Non0_acc_2",
        "CMU-MOSI: every text-transformer model with the whole MiniLM fine-tuned",
        goal={"Non0_acc_2": 0.85, "Corr": 0.80},  # issue 29's goal for the best model
    ),
    Experiment(
        "mosi-ef-lstm",
        "mosi_ef_lstm",
        "mosi",
        "Non0_acc_2",
        "CMU-MOSI: EF-LSTM at MMSA's settings, one change per row",
    ),
    Experiment(
        "mmmo-compare",
        "mmmo_compare",
        "mmmo",
        "MAE",
        "MMMO: word-aligned audio and vision sequences, standardised inputs",
        robustness=["mmcl", "mmcl:variant=reference", "self_mm", "late_fusion", "tfr_net"],
    ),
    Experiment(
        "mmmo-ablation",
        "mmmo_ablation",
        "mmmo",
        "MAE",
        "MMCL ablations on real sequences (MMMO, as above)",
    ),
    Experiment(
        "mosi-ablation",
        "mosi_ablation",
        "mosi",
        "Non0_acc_2",
        "MMCL ablations on CMU-MOSI (text tokens and one audio step)",
    ),
    Experiment(
        "youtube-compare",
        "youtube_compare",
        "youtube",
        "F1_weighted",
        "YouTube: audio and vision (mostly zero tensors), standardised inputs",
    ),
    Experiment(
        "iemocap-compare",
        "text_only_compare",
        "iemocap",
        "F1_weighted",
        "IEMOCAP: MiniLM text only, six emotions (COSMIC split)",
    ),
    Experiment(
        "cmdc-compare",
        "text_only_compare",
        "cmdc",
        "MAE",
        "cmdc_like: Chinese interview answers (MiniLM text), PHQ-9 regression",
    ),
    Experiment(
        "ablate-synth",
        "synth_ablation",
        "synthetic",
        "MAE",
        "Synthetic: MMCL ablations (planted common + specific signal)",
        real=False,
    ),
    Experiment(
        "multitask-synth",
        "synth_multitask",
        "syn_unimodal",
        "MAE",
        "Synthetic: multi-task models (a label per modality) beside their single-task versions",
        real=False,
    ),
    Experiment(
        "cov-synth",
        "synth_covariance",
        "syn_av",
        "MAE",
        "Synthetic: covariance alignment, common signal in audio and vision only",
        real=False,
    ),
]
SYNTH = {
    "syn_av": SynthConfig(common_modalities=["audio", "vision"], seed=0),
    "syn_unimodal": SynthConfig(unimodal_labels=True, seed=0),
}
FLOOR, CONSTANT = "linear floor", "constant"


def git_commit() -> str:
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True)
    return source_commit() + (" (with local changes)" if dirty.stdout else "")


def data_path(out: Path, name: str) -> str:
    """The experiment's dataset, imported (or generated) once under --out/data."""
    if name == "synthetic":
        return "synthetic"
    path = out / "data" / name
    if not (path / "manifest.json").is_file():
        if name in SYNTH:
            write_synthetic(SYNTH[name], path, "native", overwrite=True)
        else:
            import_dataset(name, SHARED / SHARED_NAME.get(name, name), path, overwrite=True)
    return str(path)


def run_experiment(exp: Experiment, out: Path, seeds: int | None, jobs: int) -> None:
    folder = out / exp.folder
    grid = load_grid(exp.grid).with_options(seeds=seeds)
    print(f"== {exp.folder}: {exp.grid} on {exp.data}", flush=True)
    restore_records(out, exp)
    run_grid_on(grid, data_path(out, exp.data), folder, jobs=jobs, resume=True)
    save_records(out, exp)


# ----------------------------------------------------------------------------- records


def record_files(folder: Path) -> list[Path]:
    """The light files of an experiment folder: its tables, each row's summary, and each
    finished run's config, log and metrics (an unfinished run has no metrics yet)."""
    files = [folder / n for n in ("compare.json", "robustness.json")]
    files += sorted(folder.glob("*/summary.json"))
    for seed_dir in sorted(folder.glob("*/seed-*")):
        if (seed_dir / "metrics.json").is_file():
            files += [seed_dir / n for n in SEED_RECORDS]
    return [f for f in files if f.is_file()]


def save_records(out: Path, exp: Experiment, records: Path = RECORDS) -> int:
    """Copy the experiment's light files from its run folders into `records`; returns how
    many finished runs are kept."""
    folder = out / exp.folder
    for f in record_files(folder):
        write_text(records / exp.folder / f.relative_to(folder), f.read_text())
    return len(list((records / exp.folder).glob("*/seed-*/metrics.json")))


def restore_records(out: Path, exp: Experiment, records: Path = RECORDS) -> None:
    """Copy the experiment's kept records into its run folders where they are missing: a run
    finished in another checkout is then finished here (its weights are not kept)."""
    kept = records / exp.folder
    if not kept.is_dir():
        return
    for f in record_files(kept):
        target = out / exp.folder / f.relative_to(kept)
        # a seed's files go together (an unfinished run here is replaced by the finished
        # one); a table or summary already here is this checkout's own, newer
        if target.parent.name.startswith("seed-"):
            missing = not (target.parent / "metrics.json").is_file()
        else:
            missing = not target.is_file()
        if missing:
            write_text(target, f.read_text())


# ----------------------------------------------------------------------------- numbers


def floors(ds: Dataset) -> dict[str, dict[str, float]]:
    """Test metrics of the validation-tuned linear floor on pooled features and of the
    constant predictor (training mean or majority class)."""
    test = ds.splits["test"]
    preds = {
        FLOOR: linear_floor(ds)[0],
        CONSTANT: constant_predictions(ds.splits["train"].labels, ds.task, len(test)),
    }
    return {name: evaluate(ds.task.metric_set, p, test.labels) for name, p in preds.items()}


@dataclass
class Table:
    """One experiment's results: per-seed test metrics of every row, read from its runs."""

    exp: Experiment
    per_seed: dict[str, list[dict[str, float]]]
    seeds: list[int]
    floors: dict[str, dict[str, float]]
    selection: str

    @classmethod
    def read(cls, out: Path, exp: Experiment) -> Table:
        folder = out / exp.folder
        compare = read_json(folder / "compare.json")
        first = next(iter(compare["per_seed"]))
        selection = read_json(folder / folder_name(first) / "summary.json")["selection"]["metric"]
        ds = load_data(data_path(out, exp.data)) if exp.real else None
        return cls(exp, compare["per_seed"], compare["seeds"], floors(ds) if ds else {}, selection)

    @property
    def rows(self) -> list[str]:
        return list(self.per_seed)

    def values(self, row: str, metric: str | None = None) -> np.ndarray:
        return np.array([s[metric or self.exp.key] for s in self.per_seed[row]], dtype=float)

    def stat(self, row: str, metric: str | None = None) -> str:
        v = self.values(row, metric)
        return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"

    def pvalue(self, row: str, other: str, metric: str | None = None) -> float:
        metric = metric or self.exp.key
        first = [{metric: s[metric]} for s in self.per_seed[other]]
        return paired_pvalues(first, [{metric: s[metric]} for s in self.per_seed[row]])[metric]

    def best(self, metric: str | None = None) -> str:
        """The row with the best mean of `metric`."""
        means = {r: self.values(r, metric).mean() for r in self.rows}
        pick = max if higher_is_better(metric or self.exp.key) else min
        return pick(means, key=means.get)

    def better(self, row: str, other: str, metric: str | None = None) -> bool:
        """`row` has the better mean of `metric` than `other`, at paired p < ALPHA."""
        metric = metric or self.exp.key
        diff = self.values(row, metric).mean() - self.values(other, metric).mean()
        p = self.pvalue(row, other, metric)
        return (diff > 0) == higher_is_better(metric) and diff != 0 and p < ALPHA


def fmt_p(p: float) -> str:
    return "p n/a" if math.isnan(p) else ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")


def names(rows: list[str]) -> str:
    return ", ".join(f"`{r}`" for r in rows) if rows else "none"


def findings(t: Table) -> str:
    """Sentences computed from the table: best row, rows better or worse than the first
    row (paired t-test), rows against the floors."""
    key, first = t.exp.key, t.rows[0]
    direction = "higher" if higher_is_better(key) else "lower"
    best = t.best()
    better = [r for r in t.rows[1:] if t.better(r, first)]
    worse = [r for r in t.rows[1:] if t.better(first, r)]
    same = [r for r in t.rows[1:] if r not in better + worse]
    lines = [
        f"Computed from these runs ({key}, {direction} is better, paired t-tests across "
        f"seeds at p < {ALPHA}):",
        f"- best mean: `{best}`, {t.stat(best)}; first row `{first}`: {t.stat(first)}.",
    ]
    if len(t.rows) > 1:
        lines += [
            f"- better than `{first}`: "
            + (
                ", ".join(f"`{r}` ({t.stat(r)}, {fmt_p(t.pvalue(r, first))})" for r in better)
                or "none"
            )
            + ".",
            f"- worse than `{first}`: "
            + (
                ", ".join(f"`{r}` ({t.stat(r)}, {fmt_p(t.pvalue(r, first))})" for r in worse)
                or "none"
            )
            + ".",
            f"- no significant difference from `{first}`: {names(same)}.",
        ]
    if t.floors:
        floor = t.floors[FLOOR][key]
        above = [r for r in t.rows if _above_floor(t, r, key)]
        lines.append(
            f"- mean better than the linear floor ({floor:.3f}): {names(above)}; "
            f"not better: {names([r for r in t.rows if r not in above])}."
        )
    if t.exp.goal:
        lines.append("- the goal for the best row: " + goal_sentence(t) + ".")
        if len(t.rows) > 1:
            lines.append("- the best row's lead: " + lead_sentence(t) + ".")
    return "\n".join(lines) + "\n"


def goal_rows(t: Table) -> list[str]:
    """The rows whose means reach every metric of the experiment's goal."""
    return [
        r
        for r in t.rows
        if all(
            (t.values(r, m).mean() >= v) if higher_is_better(m) else (t.values(r, m).mean() <= v)
            for m, v in t.exp.goal.items()
        )
    ]


def lead_sentence(t: Table) -> str:
    """How far the best row's mean of each goal metric is ahead of the next best row's,
    against the best row's std over seeds (a goal asks for a lead larger than that std)."""
    parts = []
    for m in t.exp.goal:
        sign = 1 if higher_is_better(m) else -1
        ranked = sorted(t.rows, key=lambda r: -sign * t.values(r, m).mean())
        best, second = ranked[0], ranked[1]
        lead = sign * (t.values(best, m).mean() - t.values(second, m).mean())
        std = t.values(best, m).std(ddof=1) if len(t.values(best, m)) > 1 else float("nan")
        more = "more" if lead > std else "not more"
        parts.append(
            f"{m}: `{best}` ahead of `{second}` by {lead:.3f}, {more} than its std ({std:.3f})"
        )
    return "; ".join(parts)


def goal_sentence(t: Table) -> str:
    """Whether some row's means reach every metric of the experiment's goal."""
    reached = goal_rows(t)
    parts = []
    for m, v in t.exp.goal.items():
        best = t.best(m)
        sign = ">=" if higher_is_better(m) else "<="
        parts.append(f"{m} {sign} {v} (best mean {t.values(best, m).mean():.3f}, `{best}`)")
    verdict = f"reached by {names(reached)}" if reached else "reached by no row"
    return ", ".join(parts) + f": {verdict}"


def trained_at(out: Path, exp: Experiment) -> set[str]:
    """The commits the experiment's runs were trained at, as each seed's config records
    them (a resumed grid may add rows at a later commit than its first ones)."""
    commits = set()
    for row in read_json(out / exp.folder / "compare.json")["per_seed"]:
        for seed_dir in seed_dirs(out / exp.folder / folder_name(row)):
            versions = read_json(seed_dir / "config.json").get("versions", {})
            commits.add(str(versions.get("mmcl_commit", "not recorded"))[:7])
    return commits


def training_time(out: Path, exp: Experiment, jobs: int) -> str:
    """Run time of the experiment's runs, from their logged epoch times. Each run counts
    its epochs x its median epoch time, so that a pause of the machine during one epoch (the
    runs keep wall-clock time) does not count. The epoch times reflect how the grids ran
    (`jobs` runs at once, one thread each): docs/performance.md ("The results' epoch times")
    measures the same model alone and so."""
    per_row, total, runs = {}, 0.0, 0
    for row in read_json(out / exp.folder / "compare.json")["per_seed"]:
        epochs_s = []
        for seed_dir in seed_dirs(out / exp.folder / folder_name(row)):
            lines = (seed_dir / "log.jsonl").read_text().splitlines()
            seconds = [json.loads(x)["seconds"] for x in lines if x.strip()]
            total += len(seconds) * float(np.median(seconds))
            epochs_s += seconds
            runs += 1
        per_row[row] = float(np.median(epochs_s))
    rows = ", ".join(f"`{r}` {v:.1f}" for r, v in per_row.items())
    how = f"{jobs} runs at once, one thread each" if jobs > 1 else "one run at a time"
    return (
        f"Run time: {runs} runs, {total / 60:.0f} minutes in all (epochs run x each run's "
        f"median epoch time); median seconds per epoch, each epoch's training, validation and "
        f"saved weights, {how}: {rows}."
    )


def markdown(t: Table) -> str:
    """The table: every row's mean ± std per metric, the floors, then p-values against the
    first row."""
    metrics = list(t.per_seed[t.rows[0]][0])
    lines = ["| run | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for r in t.rows:
        lines.append(f"| {r} | " + " | ".join(t.stat(r, m) for m in metrics) + " |")
    for name, m in t.floors.items():
        lines.append(
            f"| {name} (no training) | " + " | ".join(f"{m[k]:.3f}" for k in metrics) + " |"
        )
    first = t.rows[0]
    if len(t.rows) == 1:
        return "\n".join(lines) + "\n"
    lines += ["", f"Paired t-test p-values across seeds against `{first}`:", ""]
    lines += [f"| vs {first} | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for r in t.rows[1:]:
        cells = [fmt_p(t.pvalue(r, first, m)).removeprefix("p ").lstrip("= ") for m in metrics]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def describe_data(out: Path, exp: Experiment) -> str:
    ds = load_data(data_path(out, exp.data))
    sizes = ", ".join(f"{s} {len(sp)}" for s, sp in ds.splits.items())
    steps = {m: f"{n} step{'s' if n > 1 else ''}" for m, n in ds.seq_lens().items()}
    mods = ", ".join(f"{m} {d}-d × {steps[m]}" for m, d in ds.dims().items())
    task = ds.task
    labels = (
        f"labels in {list(task.label_range)}"
        if task.label_range
        else f"{task.num_classes or len(task.label_names or [])} classes"
    )
    where = Path(ds.source)
    where = where.relative_to(ROOT) if where.is_relative_to(ROOT) else ds.source
    return f"Data: `{where}`; {sizes}; {mods}; {task.kind}, {labels}."


def describe_budget(exp: Experiment, seeds: int | None) -> str:
    grid = load_grid(exp.grid).with_options(seeds=seeds)
    settings = ", ".join(f"`{s}`" for s in grid.settings) or "the defaults"
    return (
        f"Grid `{exp.grid}`: {grid.epochs or 'default'} epochs, seeds "
        f"{list(range(grid.seeds))}, settings {settings}; every other option at its default."
    )


# ----------------------------------------------------------------------------- robustness


def robustness(out: Path, exp: Experiment) -> dict[str, list[dict]]:
    """Every seed of each listed row under every perturbation of `mmcl robustness`, on the
    test split; cached in FOLDER/robustness.json. {row: [per-seed {condition: metrics}]}."""
    folder = out / exp.folder
    cache = folder / "robustness.json"
    done = read_json(cache) if cache.is_file() else {}
    datasets: dict = {}
    for row in exp.robustness:
        if row in done:
            continue
        print(f"robustness: {exp.folder} / {row}", flush=True)
        done[row] = []
        for seed_dir in seed_dirs(folder / folder_name(row)):
            model, _, ds = load_for(seed_dir, None, None, datasets)
            done[row].append(robustness_report(model, ds.splits["test"], ds.task.metric_set))
        write_json(cache, done)
    return done


def robustness_section(out: Path, exp: Experiment) -> str:
    per_row = robustness(out, exp)
    rows, key = list(per_row), exp.key
    conditions = list(per_row[rows[0]][0])
    lines = [f"| condition ({key}) | " + " | ".join(rows) + " |", "|---|" + "---|" * len(rows)]
    change: dict[str, dict[str, float]] = {r: {} for r in rows}
    for cond in conditions:
        cells = []
        for r in rows:
            v = np.array([seed[cond][key] for seed in per_row[r]], dtype=float)
            clean = np.array([seed["clean"][key] for seed in per_row[r]], dtype=float)
            if np.isnan(v).any():
                cells.append("n/a")
                continue
            cells.append(
                f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"
            )
            if cond != "clean":
                change[r][cond] = float((v - clean).mean())
        lines.append(f"| {cond} | " + " | ".join(cells) + " |")
    sign = 1 if higher_is_better(key) else -1
    worst = {r: min(c, key=lambda k, c=c: sign * c[k]) for r, c in change.items() if c}
    sentences = [
        f"- `{r}`: largest loss under *{cond}* ({key} {change[r][cond]:+.3f} on average "
        "over seeds)."
        for r, cond in worst.items()
    ]
    return (
        f"\n#### {exp.title}\n\nTest {key}, mean ± std over seeds:\n\n"
        + "\n".join(lines)
        + "\n\nComputed from these runs: the perturbation that cost each model most.\n"
        + "\n".join(sentences)
        + "\n"
    )


# ----------------------------------------------------------------------------- figure


def summary_figure(tables: list[Table], path: Path) -> None:
    """One panel per real set: each row's per-seed test value of the set's key metric,
    with the linear floor and the constant predictor as lines."""
    plt = pyplot()
    fig, axes = plt.subplots(len(tables), 1, figsize=(9, 2.6 * len(tables)), squeeze=False)
    for ax, t in zip(axes[:, 0], tables, strict=True):
        key, shown = t.exp.key, []
        for i, row in enumerate(t.rows):
            values = t.values(row)
            shown += list(values)
            ax.plot([i] * len(values), values, "o", color="tab:blue", alpha=0.5, ms=4)
            ax.plot([i - 0.3, i + 0.3], [values.mean()] * 2, color="k", lw=2)
        floor, constant = t.floors[FLOOR][key], t.floors[CONSTANT][key]
        shown.append(floor)
        # the y range follows the models and the floor: a far-off constant predictor
        # would squeeze the differences between models into one line
        low, high = min(shown), max(shown)
        pad = 0.08 * (high - low or 1.0)
        ax.set_ylim(low - pad, high + pad)
        ax.axhline(floor, ls="--", color="tab:red", label=FLOOR)
        if low - pad <= constant <= high + pad:
            ax.axhline(constant, ls=":", color="tab:red", label=CONSTANT)
        else:
            ax.plot(
                [], [], ls=":", color="tab:red", label=f"{CONSTANT}: {constant:.3f} (off scale)"
            )
        ax.set_xticks(range(len(t.rows)), t.rows, rotation=20, ha="right", fontsize=7)
        better = "higher" if higher_is_better(key) else "lower"
        ax.set_title(f"{t.exp.folder}: test {key} ({better} is better)", fontsize=9)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


# ----------------------------------------------------------------------------- claims


def _above_floor(t: Table, row: str, metric: str) -> bool:
    mean, floor = t.values(row, metric).mean(), t.floors[FLOOR][metric]
    return bool(mean > floor if higher_is_better(metric) else mean < floor)


# claim kind -> whether it holds, given the table, row, other row and metric (with
# other_table = X, `other` is a row of table X, paired with `row` by seed)
CLAIM_KINDS = {
    # significantly better (paired t-test, p < ALPHA, better mean)
    "better": lambda t, r, o, m: t.better(r, o, m),
    # neither significantly better nor significantly worse
    "same": lambda t, r, o, m: not t.better(r, o, m) and not t.better(o, r, m),
    "not_worse": lambda t, r, o, m: not t.better(o, r, m),
    # equal on every seed (e.g. two names of one model)
    "identical": lambda t, r, o, m: bool(np.array_equal(t.values(r, m), t.values(o, m))),
    "above_floor": lambda t, r, o, m: _above_floor(t, r, m),
    "not_above_floor": lambda t, r, o, m: not _above_floor(t, r, m),
    # every row of the table (row and other unused)
    "none_above_floor": lambda t, r, o, m: not any(_above_floor(t, x, m) for x in t.rows),
    # the experiment's goal (Experiment.goal) reached by no row (row, other, metric unused)
    "goal_not_reached": lambda t, r, o, m: not goal_rows(t),
    "goal_reached": lambda t, r, o, m: r in goal_rows(t),  # by `row`
}


def checkable(claim: dict, tables: dict[str, Table]) -> bool:
    """A claim is checked when every table it cites was computed (not carried over)."""
    return {claim["table"], claim.get("other_table", claim["table"])} <= set(tables)


def check_claims(tables: dict[str, Table], claims: list[dict]) -> list[str]:
    """Every checkable claim of docs/results-claims.toml checked against the tables, and
    every claim the interpretation files cite ([claim: id]) known; returns what does not hold
    (with the numbers that refute it)."""
    known = {c["id"] for c in claims}
    broken = [
        f"{doc.name} cites [claim: {cited}], which {CLAIMS.name} does not define"
        for doc in sorted(CLAIMS.parent.glob("results-interpretation-*.md"))
        for cited in re.findall(r"\[claim: ([\w-]+)\]", doc.read_text())
        if cited not in known
    ]
    for c in claims:
        if not checkable(c, tables):
            continue  # a table carried over or not produced: main() lists it as unchecked
        t = tables[c["table"]]
        if c["kind"] not in CLAIM_KINDS:
            raise SystemExit(f"{CLAIMS}: claim {c['id']} has unknown kind '{c['kind']}'")
        metric, row, other = c.get("metric", t.exp.key), c.get("row"), c.get("other")
        if "other_table" in c:  # `other` is a row of another table, paired by seed
            u = tables[c["other_table"]]
            if u.seeds != t.seeds:
                raise SystemExit(f"{CLAIMS}: claim {c['id']} pairs tables with other seeds")
            other = f"{other} ({c['other_table']})"
            t = Table(
                t.exp,
                {row: t.per_seed[row], other: u.per_seed[c["other"]]},
                t.seeds,
                t.floors,
                t.selection,
            )
        if CLAIM_KINDS[c["kind"]](t, row, other, metric):
            continue
        detail = f"{row} {t.stat(row, metric)}" if row else ""
        if other:
            detail += f" vs {other} {t.stat(other, metric)}, {fmt_p(t.pvalue(row, other, metric))}"
        if t.floors:
            detail += f" (linear floor {t.floors[FLOOR][metric]:.3f})"
        broken.append(f"{c['id']} ({c['text']}): {metric} {detail}")
    return broken


# ----------------------------------------------------------------------------- document


def previous_sections(text: str) -> dict[str, str]:
    """The tables of a written document by heading ('### title' and the robustness
    '#### title'), each with its text up to the next heading."""
    sections: dict[str, str] = {}
    heading, body = None, []
    for line in [*text.splitlines(), "#"]:
        if line.startswith("#"):
            if heading:
                sections[heading] = "\n".join(body).strip()
            heading = line if line.startswith(("### ", "#### ")) else None
            body = []
        else:
            body.append(line)
    return sections


def carried(previous: dict[str, str], heading: str, exp: Experiment, written_at: str) -> str:
    """A table of the previous document, unchanged, with a note saying where it is from."""
    body = previous[heading]
    if CARRIED not in body:
        body += (
            f"\n\n{CARRIED} from docs/results.md as written at commit {written_at}: its runs "
            "predate the records of results/runs, so this script cannot recompute it; "
            f"`--only {exp.folder}` retrains it. Its claims are not rechecked until then.*"
        )
    return f"\n{heading}\n\n{body}\n"


def write_doc(out: Path, seeds: int | None, jobs: int) -> dict[str, Table]:
    for e in EXPERIMENTS:
        restore_records(out, e)
    done = [e for e in EXPERIMENTS if (out / e.folder / "compare.json").is_file()]
    tables = {e.folder: Table.read(out, e) for e in done}
    old = DOC.read_text() if DOC.is_file() else ""
    previous = previous_sections(old)
    written_at = re.search(r"document written at commit (\w+)", old)
    written_at = written_at.group(1) if written_at else "unknown"
    carry = [e for e in EXPERIMENTS if e not in done and f"### {e.title}" in previous]
    real = [tables[e.folder] for e in done if e.real]
    real_carried = any(e.real for e in carry)  # the figure of real data is then kept
    if real and not real_carried:
        summary_figure(real, FIGURE)
    seed_lists = sorted({str(t.seeds) for t in tables.values()})
    commits = sorted({c for e in done for c in trained_at(out, e)})
    where = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    cmd = "scripts/make_results.py" + (f" --seeds {seeds}" if seeds else "") + f" --jobs {jobs}"
    carried_note = (
        f"\nCarried over unchanged from an earlier document, their runs not kept in "
        f"results/runs: {names([e.folder for e in carry])}; the note under each table names "
        "the commit that document was written at.\n"
        if carry
        else ""
    )
    parts = [
        f"""# Results

Generated by `.venv/bin/python {cmd}` (runs under `{where}`, their records in
`results/runs`) on {datetime.date.today().isoformat()}, {platform.machine()} with
{os.cpu_count()} CPU cores, Python {platform.python_version()}; runs trained at commit(s)
{", ".join(commits) or "unknown"}, document written at commit {git_commit()}. Each run folder
holds its resolved config, seed and package versions. Every number below is computed by that
script from those runs; the reading of them is in a separate, dated file
(`docs/results-interpretation-*.md`) whose claims the script checks.
{carried_note}
Every number is a TEST metric of the epoch chosen on VALIDATION data, mean ± sample std over
seeds {" / ".join(seed_lists) or "[0, 1, 2, 3, 4]"}; nothing is selected on the test set.
p-values are paired t-tests across seeds. Tables on real data also have two rows that need no
training: a linear model (ridge or logistic regression, its strength tuned on validation) on
features pooled over time, the floor to beat, and the constant predictor (training mean or
majority class).
"""
    ]
    if real or real_carried:
        since = [e.folder for e in done if e.real]
        drawn = (
            "drawn when the carried-over tables were computed"
            + (f", so without {names(since)}" if since else "")
            + "; "
            if real_carried
            else ""
        )
        parts.append(
            "\n![per-seed test values of each real set's key metric](figures/results-real.png)\n\n"
            f"Each dot is one seed's test value, the black bar the mean; {drawn}red lines: the "
            "linear floor (dashed) and the constant predictor (dotted; off-scale values are "
            "given in the legend).\n"
        )
    for heading, is_real in (("Real data", True), ("Synthetic data", False)):
        section = [e for e in EXPERIMENTS if e in done + carry and e.real == is_real]
        if section:
            parts.append(f"\n## {heading}\n")
        for e in section:
            if e in carry:
                parts.append(carried(previous, f"### {e.title}", e, written_at))
                continue
            t = tables[e.folder]
            parts.append(
                f"\n### {e.title}\n\n{describe_data(out, e)}\n{describe_budget(e, seeds)}\n"
                f"Selection on validation {t.selection}. {training_time(out, e, jobs)}\n\n"
                f"{markdown(t)}\n{findings(t)}"
            )
    robust = [e for e in EXPERIMENTS if e.robustness and e in done + carry]
    if robust:
        parts.append(
            "\n## Robustness: missing, shifted and noisy modalities\n\n"
            "What `mmcl robustness` measures, for every seed of the listed rows: each modality "
            "zeroed and dropped (n/a where a model cannot run without it), shifted in time by k "
            "steps, and Gaussian noise of sigma times each feature's standard deviation on "
            "every modality.\n"
        )
        parts += [
            carried(previous, f"#### {e.title}", e, written_at)
            if e in carry
            else robustness_section(out, e)
            for e in robust
            if e in done or f"#### {e.title}" in previous
        ]
    parts.append(mmsa_section())
    write_text(DOC, "".join(parts))
    print(f"wrote {DOC}")
    return tables


# benchmarks/mmsa_side_by_side.py --save writes it; the section shows it as saved
MMSA_SIDE = ROOT / "docs" / "mmsa-side-by-side.json"


def mmsa_section() -> str:
    """'Against MMSA's own code', from the side-by-side script's saved output (or nothing)."""
    if not MMSA_SIDE.is_file():
        return ""
    r = json.loads(MMSA_SIDE.read_text())
    stamps = [e["measured"] for e in r["models"].values()] + [
        side["measured"]  # a side reused from an earlier run carries that run's stamp
        for e in r["models"].values()
        for side in e["sides"].values()
        if isinstance(side, dict) and "measured" in side
    ]
    data = sorted({s["data"] for s in stamps})
    commands = sorted({s["command"] for s in stamps})
    verdicts = r.get("verdicts", {})
    said = {
        word: ", ".join(f"`{m}`" for m, v in verdicts.items() if v == key) or "none"
        for word, key in (("above", "above"), ("within", "within"), ("below", "below"),
                          ("MMSA's side not run", ""))
    }  # fmt: skip
    welch = {m: p for m, p in r.get("welch_p", {}).items() if math.isfinite(p)}
    flat = [f"`{m}`" for m, p in r.get("welch_p", {}).items() if not math.isfinite(p)]
    apart = [f"`{m}` ({'p < 0.001' if p < 1e-3 else f'p = {p:.3f}'})" for m, p in welch.items()
             if p < 0.05]  # fmt: skip
    tested = (
        "Welch's t-test of the two sides' seeds (test Non0_acc_2), at the 0.05 level: the "
        + (f"means differ for {', '.join(apart)}" if apart else "means differ for no model")
        + f", of the {len(welch)} tested"
        + (f"; not tested, no seed spread on either side: {', '.join(flat)}" if flat else "")
        + ".\n\n"
        if welch or flat
        else ""
    )
    return (
        "\n## Against MMSA's own code\n\n"
        f"Each model both toolkits have, trained by MMSA 2.2.1's implementation and by ours on "
        f"{', '.join(f'`{d}`' for d in data)} with the same seeds, at MMSA's MOSI settings "
        "(the last column says when each model was measured, the commands are below; how "
        "MMSA is run on the CPU and how the data are written for it: the script's docstring). "
        "Test metrics, mean ± std over the seeds; both sides read the same one-wide zero "
        "vision channel (our data have none; MMSA's models need one). \"ours vs MMSA's "
        "range\": our mean test Non0_acc_2 against the lowest and highest of MMSA's seeds.\n\n"
        + (
            "Our mean against MMSA's range: "
            + "; ".join(f"{word}: {models}" for word, models in said.items())
            + ".\n\n"
            if verdicts
            else ""
        )
        + tested
        + f"{r['table']}\n"
        + "".join(f"\n- `{m}`: {note}" for m, note in r.get("notes", {}).items())
        + ("\n" if r.get("notes") else "")
        + "\nMeasured by:\n\n"
        + "".join(f"- `{c}`\n" for c in commands)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/results")
    ap.add_argument("--seeds", type=int, default=None, help="default: each grid's (5)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel runs (spawned processes)")
    ap.add_argument("--doc-only", action="store_true", help="only rewrite docs/results.md")
    ap.add_argument("--only", help="comma-separated experiment folders to run")
    ap.add_argument(
        "--save-records",
        action="store_true",
        help="only copy the finished runs' records into results/runs (e.g. during a long grid)",
    )
    args = ap.parse_args()
    out = (ROOT / args.out).resolve()
    if args.save_records:
        for exp in EXPERIMENTS:
            if (out / exp.folder).is_dir():
                print(f"{exp.folder}: {save_records(out, exp)} finished runs in {RECORDS}")
        return
    if not args.doc_only:
        chosen = args.only.split(",") if args.only else [e.folder for e in EXPERIMENTS]
        for exp in EXPERIMENTS:
            if exp.folder in chosen:
                run_experiment(exp, out, args.seeds, args.jobs)
    tables = write_doc(out, args.seeds, args.jobs)
    claims = tomllib.loads(CLAIMS.read_text())["claim"]
    checked = [c for c in claims if checkable(c, tables)]
    broken = check_claims(tables, claims)
    if broken:
        print("claims in docs/results-claims.toml that these runs do NOT support:", file=sys.stderr)
        for b in broken:
            print(f"  - {b}", file=sys.stderr)
        print("revise the interpretation file and its claims.", file=sys.stderr)
        raise SystemExit(1)
    unchecked = sorted(
        {c[k] for c in claims for k in ("table", "other_table") if k in c} - set(tables)
    )
    print(
        f"{len(checked)} of {len(claims)} claims of {CLAIMS.name} checked, all hold"
        + (f"; not checked (tables not computed): {unchecked}" if unchecked else "")
    )


if __name__ == "__main__":
    main()
