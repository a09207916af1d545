"""The package's layers import one way; each may use only the layers listed for it:

    errors, progress, limits,   leaves: import nothing of ours but errors
    pretrained, distributed
    data                        imports data and errors only
    features                    data, errors, pretrained (feature extraction)
    models                      data, errors and its own package (never files or weights)
    config, run_folder          neutral: configs and run folders, used by training and
                                evaluation alike
    evaluation                  never training, experiments or cli
    training                    of evaluation only the metrics; never experiments or cli
    experiments                 runners above training and evaluation; never cli
    api                         the public Python API over all of the above; never cli
    cli                         the shell over the API: imports only `mmcl`'s public names;
                                imported by nothing but __main__
    recipes                     TOML files only

The check parses every module's imports (also those inside functions) with `ast`.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mmcl"

ALLOWED = {
    "errors": set(),
    "limits": {"errors"},
    "recipes": set(),
    "pretrained": {"errors"},
    "progress": set(),
    "distributed": set(),
    "data": {"data", "errors", "limits"},
    "features": {"data", "errors", "limits", "pretrained", "features", "progress"},
    "models": {"data", "distributed", "errors", "limits", "models"},
    "config": {"errors", "limits", "models"},
    "run_folder": {"config", "data", "errors", "limits", "models", "pretrained"},
    "evaluation": {
        "config",
        "data",
        "errors",
        "evaluation",
        "features",
        "limits",
        "models",
        "progress",
        "run_folder",
    },
    "training": {
        "config",
        "data",
        "distributed",
        "errors",
        "evaluation",
        "limits",
        "models",
        "progress",
        "run_folder",
        "training",
    },
    "experiments": {
        "config",
        "data",
        "distributed",
        "errors",
        "evaluation",
        "experiments",
        "features",
        "limits",
        "models",
        "run_folder",
        "training",
    },
    "cli": set(),
    "__main__": {"cli"},
}
ALLOWED["api"] = ALLOWED["experiments"] | {"api", "progress"}  # over all of the layers below


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[str]:
    """The first component below `mmcl` of every `mmcl.*` module the file imports."""
    return [name.split(".")[1] for name in _modules(path)]


def _modules(path: Path) -> list[str]:
    """Every `mmcl.*` module the file imports, by its full name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module == "mmcl":
            # `from mmcl import distributed` imports a module; `from mmcl import train` a name
            names = [f"mmcl.{a.name}" for a in node.names if _is_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [n for n in names if n.startswith("mmcl.")]
    return found


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir()


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _layer(p) != "__init__")


def test_every_module_belongs_to_a_known_layer():
    assert {_layer(p) for p in MODULES} <= set(ALLOWED), sorted({_layer(p) for p in MODULES})
    assert len(MODULES) > 30  # the walk found the package


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path):
    layer = _layer(path)
    wrong = sorted(set(_imports(path)) - ALLOWED[layer])
    assert not wrong, f"{path.relative_to(PACKAGE)} ({layer}) imports {wrong}"


def test_the_check_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "def f():\n    from mmcl.experiments.runs import train_run\n    import mmcl.cli\n"
        "    from mmcl import distributed, train\n"
    )
    assert _imports(f) == ["experiments", "cli", "distributed"]


def test_training_uses_only_the_metrics_of_evaluation():
    training = [p for p in MODULES if _layer(p) == "training"]
    used = {m for p in training for m in _modules(p) if m.startswith("mmcl.evaluation")}
    assert training and used == {"mmcl.evaluation.metrics"}, used


def test_nothing_imports_the_cli():
    users = [p for p in MODULES if "cli" in _imports(p) and p.stem != "__main__"]
    assert not users


def test_the_cli_uses_only_the_public_api():
    import mmcl

    tree = ast.parse((PACKAGE / "cli.py").read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
                if n.module == "mmcl"]  # fmt: skip
    used = [
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "mmcl"
    ]
    assert used, "the check found no mmcl.<name> calls"
    assert set(imported + used) <= set(mmcl.__all__), sorted(
        set(imported + used) - set(mmcl.__all__)
    )
    assert len((PACKAGE / "cli.py").read_text().splitlines()) < 350
