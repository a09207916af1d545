import pytest

from mmcl.errors import UserError
from mmcl.experiments.grid import (
    ABLATION_GRID,
    Grid,
    check_fresh,
    folder_name,
    grid_from_options,
    load_grid,
)


def test_the_ablation_grid_starts_with_the_corrected_variant_and_parses():
    grid = load_grid(ABLATION_GRID)
    assert grid.models[0] == "mmcl" and "late_fusion" in grid.models
    assert len({folder_name(m) for m in grid.models}) == len(grid.models)


def test_grid_bases_apply_in_order_and_settings_add_up(tmp_path):
    (tmp_path / "a.toml").write_text('seeds = 2\nsettings = ["train.lr=1e-3"]\nmodels = ["mmcl"]\n')
    (tmp_path / "b.toml").write_text('seeds = 4\nepochs = 7\nsettings = ["train.batch_size=8"]\n')
    (tmp_path / "c.toml").write_text(
        f'grid = ["{tmp_path / "a.toml"}", "{tmp_path / "b.toml"}"]\n'
        'settings = ["mmcl.d_model=8"]\nmodels = ["late_fusion", "tfn"]\n'
    )
    grid = load_grid(str(tmp_path / "c.toml"))
    assert grid.seeds == 4 and grid.epochs == 7 and grid.models == ["late_fusion", "tfn"]
    assert grid.settings == ["train.lr=1e-3", "train.batch_size=8", "mmcl.d_model=8"]


def test_grid_errors_name_the_problem(tmp_path):
    with pytest.raises(UserError, match="unknown key"):
        Grid.from_dict({"models": ["mmcl"], "model": "x"})
    with pytest.raises(UserError, match="listed twice"):
        Grid.from_dict({"models": ["mmcl", "mmcl"]})
    with pytest.raises(UserError, match="unknown model 'nope'"):
        Grid.from_dict({"models": ["nope"]})
    with pytest.raises(UserError, match="at least one model"):
        Grid.from_dict({"models": []})
    with pytest.raises(UserError, match="no such file or shipped grid"):
        load_grid("no_such_grid")
    (tmp_path / "bad.toml").write_text("models = [")
    with pytest.raises(UserError, match="not valid TOML"):
        load_grid(str(tmp_path / "bad.toml"))
    with pytest.raises(UserError, match="either --models"):
        grid_from_options("mmcl", "mmcl_ablation")
    with pytest.raises(UserError, match="either --models"):
        grid_from_options(None, None)


def test_options_override_and_only_keeps_the_grid_order():
    grid = load_grid(ABLATION_GRID)
    picked = grid.with_options(seeds=2, epochs=3, only="late_fusion, mmcl")
    assert picked.models == ["mmcl", "late_fusion"] and (picked.seeds, picked.epochs) == (2, 3)
    assert grid.with_options().seeds == grid.seeds
    with pytest.raises(UserError, match="not in the grid"):
        grid.with_options(only="mmcl:csd=maybe")


def test_check_fresh_refuses_a_folder_with_runs(tmp_path):
    check_fresh(tmp_path / "new", resume=False)
    (tmp_path / "old" / "m" / "seed-0").mkdir(parents=True)
    (tmp_path / "old" / "m" / "seed-0" / "config.json").write_text("{}")
    with pytest.raises(UserError, match="--resume"):
        check_fresh(tmp_path / "old", resume=False)
    check_fresh(tmp_path / "old", resume=True)


def _shipped_grids():
    from importlib import resources

    folder = resources.files("mmcl.recipes").joinpath("grids")
    # real_budget is a base of others, not a grid: it has no rows
    names = {f.name.removesuffix(".toml") for f in folder.iterdir() if f.name.endswith(".toml")}
    return sorted(names - {"real_budget"})


@pytest.mark.parametrize("name", _shipped_grids())
def test_every_row_of_every_shipped_grid_resolves(name):
    """A row whose options its model refuses fails here, not hours into a regeneration."""
    from mmcl.config import resolve_config
    from mmcl.experiments.grid import parse_spec

    grid = load_grid(name)
    for spec in grid.models:
        model, extra = parse_spec(spec)
        cfg = resolve_config(grid.recipe, model, None, grid.epochs, [*grid.settings, *extra])
        assert cfg.model == model
