"""mmcl: multimodal sentiment and emotion analysis (text, audio, vision): MMCL, the
shared-private covariance model and MMSA's model zoo, trained, compared, tuned and used
for prediction under one protocol. The Python API (docs/api.md has an example of each;
`mmcl --help` does the same from the shell):

    load_dataset(path, preset)        a dataset (native folder, MMSA/MulT pickle, .csd, ...)
    describe(path)                    its splits, modalities, lengths and labels -> .info, .text
    convert(src, out)                 any readable dataset -> a native folder
    import_dataset(name, src, out)    a real set of the shared data -> a native folder
    synthesize(out, ...)              planted-signal data (native folder, MMSA or MulT pickle)
    extract_text(texts, ids, out)     a text feature table (MiniLM or a local model)
    extract_audio(wav_dir, out)       an audio feature table
    extract_video(videos, out)        vision, audio and text tables of video files
    assemble(labels, tables, out)     feature tables + a labels CSV -> a dataset folder
    train(data, model, ...)           train seeds into a run folder -> TrainResult
    evaluate(run, ...)                a run's metrics on a split, per seed -> Evaluation
    compare(models, ...)              train several models over seeds -> a table with p-values
    ablate(...)                       the MMCL ablation grid -> the same table
    tune(data, model, ...)            Optuna on the validation split -> the best trial
    robustness(run, ...)              missing, shifted and noisy modalities -> a table
    demo(data)                        MMCL and late fusion beside a floor and a constant
    load_run(path)                    a trained run -> Run, with .predict(arrays or data),
                                      .predict_texts(texts), .predict_audio(wav files) and
                                      .predict_videos(video files)
    predict(run, ...)                 `mmcl predict`: a split, texts, audio or videos -> records
    set_memory_budget(gb)             what any one input file may make mmcl allocate
    UserError                         what every function raises for a user's mistake

Options are keyword arguments named as the CLI's; `overrides` is a mapping
({"train.lr": 1e-3}) for the CLI's `--set`. Nothing prints unless `progress=True`.
"""

from __future__ import annotations

from typing import Any

from mmcl.errors import UserError

__all__ = [
    "UserError",
    "ablate",
    "assemble",
    "compare",
    "convert",
    "demo",
    "describe",
    "evaluate",
    "extract_audio",
    "extract_text",
    "extract_video",
    "import_dataset",
    "load_dataset",
    "load_run",
    "predict",
    "robustness",
    "set_memory_budget",
    "synthesize",
    "train",
    "tune",
]


def __getattr__(name: str) -> Any:
    # the API's imports (torch and the models) load on first use: `mmcl --help` stays quick
    if name in __all__:
        from mmcl import api

        return getattr(api, name)
    raise AttributeError(f"module 'mmcl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
