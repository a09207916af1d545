"""The Python API: what the command line does, as functions that take keyword options
(the CLI's, with `overrides` a mapping instead of `--set` strings), return data and raise
`UserError` (and its subclasses) for a user's mistake. Nothing here exits the process or
prints, unless `progress=True` asks for progress lines and messages.

The CLI (`mmcl.cli`) is a shell over these functions; docs/api.md shows each in use.
"""

from mmcl.api.data import (
    Description,
    FeatureTable,
    assemble,
    convert,
    describe,
    extract_audio,
    extract_text,
    extract_video,
    import_dataset,
    load_dataset,
    set_memory_budget,
    synthesize,
)
from mmcl.api.options import Overrides, settings
from mmcl.api.runs import Predictions, Run, load_run, predict
from mmcl.api.training import (
    Evaluation,
    GridOptions,
    Robustness,
    TrainResult,
    ablate,
    compare,
    demo,
    evaluate,
    robustness,
    train,
    tune,
)
from mmcl.errors import UserError
from mmcl.features.video import VideoTables

__all__ = [
    "Description", "Evaluation", "FeatureTable", "GridOptions", "Overrides", "Predictions",
    "Robustness", "Run", "TrainResult", "UserError", "VideoTables", "ablate", "assemble", "compare",
    "convert", "demo", "describe", "evaluate", "extract_audio", "extract_text", "extract_video",
    "import_dataset", "load_dataset", "load_run", "predict", "robustness", "set_memory_budget",
    "settings", "synthesize", "train", "tune",
]  # fmt: skip
