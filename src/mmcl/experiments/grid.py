"""The one grid runner: model specs x seeds on one dataset, then one table, paired tests
across seeds, a plot and every resolved config. `mmcl compare`, `mmcl ablate` and
scripts/make_results.py all run grids through `run_grid`.

A grid is data: a TOML file next to the recipes (`recipes/grids/<name>.toml`) or any file:

    title = "MMCL ablations"
    seeds = 3                      # seeds 0..seeds-1
    models = ["mmcl", "mmcl:variant=reference", "late_fusion"]   # the first is the reference
    settings = ["train.lr=1e-3"]   # --set overrides for every row (optional)
    recipe = "demo"                # optional; its [train] gives every row the same budget
    epochs = 20                    # optional
    data = "path/or/synthetic"     # optional; --data wins
    grid = ["mmcl_ablation"]       # optional: start from other grids' fields (in order; own
                                   # keys win, settings add up)

A model spec is a registry name, optionally followed by ':'-separated items: a bare
modality list selects modalities (`unimodal:text`, `late_fusion:audio+vision`), and
`key=value` sets one of the model's options (`shared_private_cov:lambda_cov=0`) or, with a
dot, any config field (`mmcl:train.lr=1e-3`). `recipe=NAME` (a shipped recipe or a file, e.g.
the best.toml of `mmcl tune`) sets every setting of that recipe for the row, over the grid's
own settings: a tuned row beside rows at the grid's budget.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from mmcl.config import RunConfig, read_toml, recipe_path, resolve_config, toml_value
from mmcl.data.dataset import Dataset
from mmcl.data.io import check_folder_target, folder_lock
from mmcl.data.loader import load_data
from mmcl.errors import UserError
from mmcl.evaluation.plots import plot_comparison
from mmcl.evaluation.report import csv_table, markdown_table, paired_pvalues, pvalue_table
from mmcl.experiments.defaults import default_data
from mmcl.experiments.runs import train_run, write_summary
from mmcl.models.registry import MODELS, check_fits, typed_values
from mmcl.run_folder import CONFIG, safe_name, write_json, write_text

# the grid `mmcl ablate` runs
ABLATION_GRID = "mmcl_ablation"


@dataclass
class Grid:
    """Model specs x seeds; every field as in the module docstring."""

    models: list[str]
    seeds: int = 3
    settings: list[str] = field(default_factory=list)
    recipe: str | None = None
    epochs: int | None = None
    data: str | None = None
    title: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "grid", chain: tuple = ()) -> Grid:
        d = _with_bases(d, chain)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}.")
        if not d.get("models"):
            raise UserError(f"{where}: 'models' must list at least one model spec.")
        grid = cls(**typed_values(cls, d, where))
        if len(set(grid.models)) != len(grid.models):
            raise UserError(f"{where}: a model spec is listed twice in {grid.models}.")
        if grid.seeds < 1:
            raise UserError(f"{where}: seeds must be at least 1, got {grid.seeds}.")
        for spec in grid.models:
            parse_spec(spec)
        return grid

    def with_options(
        self,
        seeds: int | None = None,
        epochs: int | None = None,
        recipe: str | None = None,
        only: str | None = None,
    ) -> Grid:
        """The grid with command-line choices applied (None keeps the grid's own); `only`
        keeps the comma-separated rows it names, in the grid's order."""
        grid = replace(
            self,
            seeds=seeds or self.seeds,
            epochs=epochs or self.epochs,
            recipe=recipe or self.recipe,
        )
        if only:
            names = [n.strip() for n in only.split(",") if n.strip()]
            unknown = [n for n in names if n not in self.models]
            if unknown:
                raise UserError(f"--only: {unknown} not in the grid; its rows are {self.models}.")
            grid.models = [m for m in self.models if m in names]
        return grid


def grid_path(name_or_path: str) -> Path:
    """A grid file, or the name of one shipped in mmcl/recipes/grids."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = resources.files("mmcl.recipes").joinpath("grids", f"{name_or_path}.toml")
    if shipped.is_file():
        return Path(str(shipped))
    names = sorted(
        f.name.removesuffix(".toml")
        for f in resources.files("mmcl.recipes").joinpath("grids").iterdir()
        if f.name.endswith(".toml")
    )
    raise UserError(f"--grid '{name_or_path}': no such file or shipped grid; shipped: {names}.")


MAX_BASES = 8  # grids that build on grids that build on grids...


def _with_bases(d: dict[str, Any], chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """`d` on top of the grids its `grid` key names (one name or a list, applied in order):
    its own keys win, except `settings`, which add to the bases' settings. A grid that
    includes itself, or a chain deeper than MAX_BASES, is refused."""
    d = dict(d)
    bases = d.pop("grid", [])
    merged: dict[str, Any] = {}
    if not isinstance(bases, str | list) or not all(isinstance(b, str) for b in bases):
        where = chain[-1] if chain else "--models"
        raise UserError(f"{where}: grid = {bases!r}; name a grid, or a list of grids.")
    for base in [bases] if isinstance(bases, str) else bases:
        path = grid_path(base).resolve()
        if path in chain or len(chain) >= MAX_BASES:
            names = " -> ".join(str(p) for p in (*chain, path))
            raise UserError(f"grid {path}: its bases include themselves or go too deep ({names}).")
        raw = _with_bases(read_toml(path, "grid"), (*chain, path))
        settings = [*merged.get("settings", []), *raw.get("settings", [])]
        merged = {**merged, **raw, "settings": settings}
    settings = [*merged.get("settings", []), *d.get("settings", [])]
    return {**merged, **d, **({"settings": settings} if settings else {})}


def load_grid(name_or_path: str) -> Grid:
    path = grid_path(name_or_path)
    d = read_toml(path, "--grid")
    return Grid.from_dict(d, str(path), (path.resolve(),))


def ablation_grid() -> Grid:
    """The MMCL ablation grid that `mmcl ablate` runs."""
    return load_grid(ABLATION_GRID)


def grid_from_options(models: str | None, grid: str | None) -> Grid:
    """The grid of `mmcl compare`: --models 'a,b:x=1' or --grid NAME|FILE (not both)."""
    if bool(models) == bool(grid):
        raise UserError("give either --models (comma-separated specs) or --grid (a grid TOML).")
    if grid:
        return load_grid(grid)
    return Grid.from_dict(
        {"models": [m.strip() for m in models.split(",") if m.strip()]}, "--models"
    )


def parse_spec(spec: str) -> tuple[str, list[str]]:
    """'unimodal:text' -> ('unimodal', ['modalities=["text"]'])."""
    name, *items = [p.strip() for p in spec.split(":")]
    if name not in MODELS:
        raise UserError(
            f"model spec '{spec}': unknown model '{name}'; choose from {sorted(MODELS)}."
        )
    overrides = []
    for item in items:
        if item.startswith("recipe="):
            overrides += recipe_settings(item.partition("=")[2], name, spec)
        elif "=" in item:
            key, _, value = item.partition("=")
            overrides.append(f"{key if '.' in key else f'{name}.{key}'}={value}")
        elif item:
            mods = ", ".join(f'"{m}"' for m in item.split("+"))
            overrides.append(f"modalities=[{mods}]")
    return name, overrides


def recipe_settings(recipe: str, model: str, spec: str) -> list[str]:
    """Every setting of a recipe for `model` as overrides; its `data` and `preset` are not
    (the grid's data and task are every row's: rows are compared seed by seed), and a recipe
    for another model is refused."""
    loaded = read_toml(recipe_path(recipe), f"model spec '{spec}': recipe")
    if loaded.get("model", model) != model:
        raise UserError(
            f"model spec '{spec}': recipe {recipe} is for model '{loaded['model']}', not "
            f"'{model}'; name that model or another recipe."
        )
    out = []
    for key, value in loaded.items():
        if key in ("model", "data", "preset"):
            continue
        if isinstance(value, dict):
            out += [f"{key}.{k}={toml_value(v)}" for k, v in value.items()]
        else:
            out.append(f"{key}={toml_value(value)}")
    return out


def folder_name(spec: str) -> str:
    """The run folder of a model spec (`run_folder.safe_name`)."""
    return safe_name(spec)


# what `train`, `compare`, `ablate` and `tune` write at the top of their --out folder
REPORT_FILES = (
    "compare.md", "compare.csv", "compare.json", "compare.png", "summary.md", "summary.json",
    "summary.csv", "best.toml", "trials.csv",
)  # fmt: skip


def check_fresh(out: Path, resume: bool) -> None:
    """Refuse to mix new runs into a folder that holds runs, unless resuming them, and to
    replace files of those names that runs of ours did not write."""
    out = Path(out)
    check_folder_target(out, "--out")
    if resume or not out.exists():
        return
    if any(out.glob(f"**/{CONFIG}")):
        raise UserError(
            f"{out} already holds runs; pass --resume to continue them or choose another --out."
        )
    clash = [name for name in REPORT_FILES if (out / name).exists()]
    if clash:
        raise UserError(
            f"--out {out}: holds {', '.join(clash)}, which no run of this folder wrote and this "
            "command would replace; choose another --out."
        )


def _train_job(cfg_dict: dict, data: Any, out: str) -> dict:
    """One (model, seed) run in a worker process: it loads the data itself."""
    import torch

    torch.set_num_threads(1)
    cfg = RunConfig.from_dict(cfg_dict)
    ds = data if isinstance(data, Dataset) else load_data(cfg.data, cfg.preset or None)
    return train_run(cfg, ds, Path(out), resume=True)


def run_grid_on(
    grid: Grid,
    data: str | None,
    out: Path,
    preset: str | None = None,
    overrides: list[str] | None = None,
    jobs: int = 1,
    resume: bool = False,
    say: Callable[[str], None] = print,
) -> GridResult:
    """`run_grid` on the dataset `data` names (a path or 'synthetic'; None: the default
    data, see `mmcl.experiments.defaults`), read with `preset`."""
    check_fresh(out, resume)
    data = data or default_data(say)
    ds = load_data(data, preset)
    extra = [f'preset="{preset}"'] if preset else []
    return run_grid(grid, ds, out, data, [*extra, *(overrides or [])], jobs, resume)


def constant_seeds(per_run: dict[str, list[dict]]) -> dict[str, list[int]]:
    """Per spec, the seeds whose selected model predicts one value for every test sample."""
    found = {
        spec: [r["seed"] for r in rs if "test" in r.get("constant_predictions", [])]
        for spec, rs in per_run.items()
    }
    return {spec: seeds for spec, seeds in found.items() if seeds}


def constant_note(per_run: dict[str, list[dict]]) -> str:
    """A line under the table flagging constant predictors, or nothing."""
    found = constant_seeds(per_run)
    if not found:
        return ""
    listed = "; ".join(f"{spec}: seeds {seeds}" for spec, seeds in found.items())
    return (
        "\nConstant predictors (the selected model predicts one value for every test "
        f"sample): {listed}.\n"
    )


@dataclass
class GridResult:
    rows: dict[str, dict[str, dict[str, float]]]  # spec -> metric -> mean, std, n
    per_seed: dict[str, list[dict[str, float]]]  # spec -> per-seed test metrics
    pvalues: dict[str, dict[str, float]]  # spec -> metric -> p against the first spec
    markdown: str


def run_grid(
    grid: Grid,
    ds: Dataset,
    out: Path,
    data: str,
    overrides: list[str] | None = None,
    jobs: int = 1,
    resume: bool = False,
) -> GridResult:
    """Train every spec for every seed into out/<spec>/seed-<s>/ (finished runs are kept),
    then write compare.{md,csv,json,png} and configs/<spec>.json. `data` is how `ds` was
    named (a path or 'synthetic'); workers of `jobs` > 1 load it themselves."""
    out = Path(out)
    check_fresh(out, resume)
    cfgs, points = grid_points(grid, ds, out, data, overrides)
    with folder_lock(out):  # one process writes into `out` at a time
        results = _train_points(points, ds, data, jobs)
        per_run: dict[str, list[dict]] = {spec: [] for spec in grid.models}
        for (spec, _, _), r in zip(points, results, strict=True):
            per_run[spec].append(r)
        return write_report(grid, ds, out, cfgs, per_run)


Point = tuple[str, RunConfig, Path]  # model spec, its config with the seed, run folder


def grid_points(
    grid: Grid, ds: Dataset, out: Path, data: str, overrides: list[str] | None = None
) -> tuple[dict[str, RunConfig], list[Point]]:
    """Each spec's resolved config, and every (spec, seeded config, run folder) point."""
    cfgs: dict[str, RunConfig] = {}
    for spec in grid.models:
        name, extra = parse_spec(spec)
        # the recipe's [train] gives every model the same budget; a model section applies
        # only to its own model
        cfgs[spec] = resolve_config(
            grid.recipe, name, data, grid.epochs, [*grid.settings, *(overrides or []), *extra]
        )
        # every row must fit the data before the first one trains
        check_fits(
            name,
            cfgs[spec].modalities or ds.modalities,
            ds.task.kind,
            sorted(ds.splits["train"].unimodal_labels or {}),
        )
    points = [
        (
            spec,
            replace(cfg, train=replace(cfg.train, seed=s)),
            Path(out) / folder_name(spec) / f"seed-{s}",
        )
        for spec, cfg in cfgs.items()
        for s in range(grid.seeds)
    ]
    return cfgs, points


def _train_points(points: list, ds: Dataset, data: str, jobs: int) -> list[dict]:
    """Every (spec, config, folder) point trained (or read back when finished)."""
    if jobs <= 1:
        return [train_run(c, ds, o, resume=True) for _, c, o in points]
    data_arg = ds if data == "synthetic" else data
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_train_job, c.to_dict(), data_arg, str(o)) for _, c, o in points]
        return [f.result() for f in futures]


def write_report(
    grid: Grid,
    ds: Dataset,
    out: Path,
    cfgs: dict[str, RunConfig],
    per_run: dict[str, list[dict]],
) -> GridResult:
    """The grid's table, paired tests, plot and configs, written into `out`, from each spec's
    finished runs (`per_run`: spec -> metrics of its runs; a spec without any is left out)."""
    per_run = {spec: rs for spec, rs in per_run.items() if rs}
    rows, per_seed = {}, {}
    for spec, rs in per_run.items():
        rows[spec] = write_summary(out / folder_name(spec), rs, spec)["test"]
        per_seed[spec] = [{k: v for k, v in r["test"].items() if k != "loss"} for r in rs]
        write_json(out / "configs" / f"{folder_name(spec)}.json", cfgs[spec].to_dict())
    first = next(iter(per_run))
    seeds = sorted({r["seed"] for rs in per_run.values() for r in rs})
    pvalues = {spec: _paired(per_run[first], per_run[spec]) for spec in list(per_run)[1:]}
    selection = per_run[first][0]["selection"]
    text = (
        f"# {grid.title or 'Model comparison'} on {ds.source}\n\n"
        f"Test metrics of the epoch with the best validation {selection['metric']}, "
        f"mean ± sample std over seeds {seeds}.\n\n"
        + markdown_table(rows)
        + f"\nPaired t-test p-values across seeds against {first} (NaN: fewer than 2 seeds or "
        "identical values).\n\n" + pvalue_table(first, pvalues) + constant_note(per_run)
    )
    write_text(out / "compare.md", text)
    write_text(out / "compare.csv", csv_table(rows))
    write_json(
        out / "compare.json",
        {
            "rows": rows,
            "per_seed": per_seed,
            "pvalues": pvalues,
            "seeds": seeds,
            "constant_predictions": constant_seeds(per_run),
        },
    )
    plot_comparison(rows, out / "compare.png")
    return GridResult(rows, per_seed, pvalues, text)


def _paired(first: list[dict], other: list[dict]) -> dict[str, float]:
    """Paired p-values on the seeds both specs finished."""
    by_seed = {r["seed"]: r["test"] for r in other}
    pairs = [(r["test"], by_seed[r["seed"]]) for r in first if r["seed"] in by_seed]
    drop = {"loss"}
    a = [{k: v for k, v in x.items() if k not in drop} for x, _ in pairs]
    b = [{k: v for k, v in y.items() if k not in drop} for _, y in pairs]
    if not a:
        return {}
    return paired_pvalues(a, b)
