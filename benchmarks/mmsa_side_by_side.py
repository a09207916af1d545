"""Side by side with MMSA's own code: each model both toolkits have, trained by MMSA 2.2.1's
implementation and by ours on the same data and seeds, at MMSA's MOSI settings (ours: the
`<model>_mosi` recipes, "as MMSA builds it"). Prints, per model and side, the parameter
count, test Non0_acc_2, Corr and MAE (mean ± std over the seeds), the epochs run and the
seconds per epoch.

    make mmsa-env   # once: MMSA 2.2.1 into .mmsa/ (pip --target, no dependencies pulled)
    .venv/bin/python benchmarks/mmsa_side_by_side.py [--data data/mosi] [--seeds 3]
        [--models tfn,lf_dnn,ef_lstm] [--epochs N] [--json]
        [--save docs/mmsa-side-by-side.json]   # what docs/results.md's section shows

MMSA is never imported by the package: its side runs in a child process with .mmsa/ on
the path (torch, transformers and scikit-learn are ours). What this script does to run it,
and why:
- MMSA's `MMSA_run` calls `torch.cuda.set_device`, which raises on a CPU-only machine; the
  child drives the same steps `MMSA_run` takes for one seed (MMSA's config, data loader,
  model and trainer, its best-on-validation weights, its test) without that call. MMSA's
  MulT and TFR-Net trainers pass `verbose` to ReduceLROnPlateau, an argument torch 2.13
  no longer takes: the child's scheduler accepts and ignores it. MMSA's MCTN builds its
  translators on device "cuda" whatever the run's device: the child builds them on the CPU;
  they run at the widest modality's width (every modality is zero-padded to it), which
  MMSA's config fixes at BERT's 768 (`output_dim`): the child sets it from the data.
- The data (`--data`, a native folder such as the imported MOSI: MiniLM text tokens and an
  utterance audio vector) is written as an MMSA pickle: text right-aligned in its steps (MMSA's
  TFN and LF-DNN text LSTMs read the whole padded sequence, so trailing padding would be the
  last thing they read; MMSA's own aligned features end at the last step), the audio vector
  as one step (what MMSA's TFN and LF-DNN read after averaging) or repeated over the text's
  steps for the models MMSA marks `need_data_aligned` (and MulT, whose kernel-5 convolutions
  cannot read one step), and a one-wide zero vision channel (our data have no vision;
  MMSA's models need one). Our side trains on the same data with the same zero vision
  channel, so that both sides build the same layers; for the aligned models, word-aligned
  as MMSA's aligned files are: the audio on each sample's text steps, with the text's
  lengths. MMSA's pickle has the audio on the same steps (the text's, at the end) and zeros
  on the padding before them, as MMSA's own aligned files do (MMSA's models read the padding
  steps all the same).
- Models on a BERT checkpoint (MMSA's `use_bert`) are listed as not comparable: MMSA's data
  loader sets the text width to BERT-base's 768 whatever model it loads, and no local BERT-base
  ships offline here. So are the models MMSA 2.2.1 does not have (CENET, TETFN and ALMT came
  to MMSA's source after its last PyPI release). Neither side of these is run.
--ours-read-mmsa-pickle trains our side on the very pickle MMSA's side reads, beside MMSA's
saved side: that file stores no lengths, so every step counts and ours reads the padding as
MMSA does; it isolates what masking the padding changes (a row of its own).
--epochs N is for a quick look: ours train at most N epochs; MMSA's trainers have no epoch
cap, so its early stop is cut to N epochs without improvement.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
MMSA_DIR = ROOT / ".mmsa"
MODELS = ["tfn", "lf_dnn", "ef_lstm", "lmf", "mfn", "graph_mfn", "mfm", "mctn", "mult", "misa",
          "self_mm", "bert_mag", "mmim", "cenet", "tetfn", "almt"]  # fmt: skip
METRICS = ("Non0_acc_2", "Corr", "MAE")
# models MMSA does not mark `need_data_aligned` that still cannot read one audio step: both
# sides get the aligned data (the audio vector over the text's steps)
ALIGNED_ANYWAY = {"mult": "its convolutions (kernel 5, no padding) need 5 steps or more"}
# the key of a model whose our side read MMSA's own pickle (--ours-read-mmsa-pickle)
ON_MMSA_PICKLE = ", ours reading MMSA's pickle"
# why a model's two sides differ by design (each difference is in the model's docstring)
NOTES = {
    "mfm": "MMSA builds its MFN's output network and never uses it; ours does not build it "
    "(models/mfm.py), hence {diff:,} fewer parameters.",
    "lmf": "MMSA builds a post-fusion dropout it never applies; ours does not build it (it has "
    "no parameters).",
    "mctn": "MMSA's MCTN hands its LSTMs batch-major tensors as time-major ones, so its "
    "recurrences run across the samples of a batch; ours runs them over time (models/mctn.py "
    "lists every difference).",
    "mult": "MMSA's MulT attends to the padded steps and places its positions as fairseq "
    "does (skipping zero-valued steps); ours masks the padding out and reads the last "
    "unpadded step (models/mult.py).",
    f"mult{ON_MMSA_PICKLE}": "Our side read the pickle MMSA's side reads: it stores no "
    "lengths, so every step counts (docs/data.md) and ours attends to the padding and reads "
    "the last step, as MMSA's does; the positions still differ.",
    "graph_mfn": "MMSA keeps the graph's multimodal vertex networks in a plain dict: they are "
    "not registered, so they never train and are not counted; ours registers and trains them "
    "(models/graph_mfn.py), hence {diff:,} more parameters.",
}


# ----------------------------------------------------------------------------- the data
def mmsa_pickle(data: str, out: Path, aligned: bool) -> None:
    """`data` as MMSA's data loader reads it (see the module's notes)."""
    import mmcl

    ds = mmcl.load_dataset(data)
    obj = {}
    for name, sp in ds.splits.items():
        text = np.asarray(sp.features["text"], dtype=np.float32)
        n, steps, _ = text.shape
        right = np.zeros_like(text)
        lengths = np.asarray(sp.lengths["text"])
        for i, k in enumerate(lengths):
            right[i, steps - k :] = text[i, :k]
        audio = np.asarray(sp.features["audio"], dtype=np.float32)[:, :1]
        if aligned:  # on the words only, which end at the last step
            words = np.arange(steps)[None, :] >= steps - lengths[:, None]  # (n, steps)
            audio = np.repeat(audio, steps, axis=1) * words[..., None]
        vision = np.zeros((n, audio.shape[1], 1), dtype=np.float32)
        obj[name] = {
            "id": np.asarray(sp.ids, dtype=object),
            "raw_text": np.asarray(
                sp.raw_text if sp.raw_text is not None else [""] * n, dtype=object
            ),
            "text": right,
            "audio": audio,
            "vision": vision,
            "audio_lengths": np.full(n, audio.shape[1], dtype=np.int64),
            "vision_lengths": np.full(n, audio.shape[1], dtype=np.int64),
            "regression_labels": np.asarray(sp.labels, dtype=np.float32),
        }
    with open(out, "wb") as f:
        pickle.dump(obj, f)


def with_zero_vision(data: str, out: Path, aligned: bool = False) -> str:
    """`data` with the one-wide zero vision channel MMSA's side gets, as a native folder.
    `aligned`: word-aligned, as MMSA's aligned files are: the audio vector repeated over each
    sample's text steps and the vision channel as long, zero past the text's length (every
    modality then has the text's steps, so a model reading one step of each at a time reads
    the words and no padding)."""
    import mmcl

    ds = mmcl.load_dataset(data)
    for sp in ds.splits.values():
        n = len(sp.labels)
        steps, lengths = 1, np.ones(n, dtype=np.int64)
        if aligned:
            lengths = np.asarray(sp.lengths["text"], dtype=np.int64)
            steps = np.asarray(sp.features["text"]).shape[1]
            words = np.arange(steps)[None, :] < lengths[:, None]  # (n, steps)
            audio = np.asarray(sp.features["audio"], dtype=np.float32)[:, :1]
            sp.features["audio"] = np.repeat(audio, steps, axis=1) * words[..., None]
            sp.lengths["audio"] = lengths
        sp.features["vision"] = np.zeros((n, steps, 1), dtype=np.float32)
        sp.lengths["vision"] = lengths
    mmcl.convert(ds, out)
    return str(out)


# ----------------------------------------------------------------------------- MMSA's side
def mmsa_child(model: str, feature_path: str, seeds: list[int], epochs: int | None) -> dict:
    """Runs with .mmsa/ on the path: MMSA's steps for each seed (as `MMSA_run` takes them,
    without its `torch.cuda.set_device`)."""
    import torch

    class Plateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
        """torch 2.13 dropped the `verbose` argument MMSA's MulT and TFR-Net trainers pass;
        the scheduler is otherwise the same."""

        def __init__(self, *args, verbose: bool = False, **kwargs) -> None:  # noqa: ARG002
            super().__init__(*args, **kwargs)

    torch.optim.lr_scheduler.ReduceLROnPlateau = Plateau  # before MMSA's trainers import it
    MCTN = importlib.import_module("MMSA.models.singleTask.MCTN")  # the module, not the class
    cuda_only = MCTN.Seq2Seq.__init__

    def on_cpu(self, encoder, decoder, device, *args, **kwargs) -> None:  # noqa: ANN001
        cuda_only(self, encoder, decoder, "cpu", *args, **kwargs)  # MMSA passes "cuda"

    MCTN.Seq2Seq.__init__ = on_cpu
    from MMSA.config import get_config_regression
    from MMSA.data_loader import MMDataLoader
    from MMSA.models import AMIO
    from MMSA.trains import ATIO
    from MMSA.utils import count_parameters, setup_seed

    runs = []
    with tempfile.TemporaryDirectory(prefix="mmsa-") as tmp:
        for seed in seeds:
            args = get_config_regression(model, "mosi")
            args.update(
                featurePath=feature_path, custom_feature=None, feature_T="", feature_A="",
                feature_V="", device=torch.device("cpu"), train_mode="regression",
                model_save_path=Path(tmp) / f"{model}.pth", cur_seed=seed + 1,
            )  # fmt: skip
            if epochs:  # MMSA stops after `early_stop` epochs without improvement
                args["early_stop"] = min(args["early_stop"], epochs)
            setup_seed(seed)
            loader = MMDataLoader(args, 0)  # sets args.feature_dims from the data
            if model == "mctn":  # its translators run at the widest modality's width, which
                args["output_dim"] = max(args["feature_dims"])  # MMSA's config fixes at 768
            net = AMIO(args)
            trainer = ATIO().getTrain(args)
            calls = 0
            train_mode = net.train

            def counted(mode: bool = True, _train=train_mode):  # noqa: ANN001, ANN202
                nonlocal calls
                calls += bool(mode)
                return _train(mode)

            net.train = counted  # one call in training mode per epoch, in MMSA's trainers
            start = time.perf_counter()
            trainer.do_train(net, loader)
            seconds = time.perf_counter() - start
            net.load_state_dict(torch.load(args["model_save_path"]))
            test = trainer.do_test(net, loader["test"], mode="TEST")
            runs.append(
                {
                    "seed": seed,
                    "params": count_parameters(net),
                    "epochs": calls,
                    "seconds_per_epoch": seconds / max(calls, 1),
                    **{m: float(test[m]) for m in METRICS if m in test},
                }
            )
    return {"runs": runs}


def run_mmsa(model: str, pickle_path: Path, seeds: int, epochs: int | None) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{MMSA_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, __file__, "--child", model, str(pickle_path), str(seeds)]
    cmd += ["--epochs", str(epochs)] if epochs else []
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- ours
def run_ours(model: str, data: str, seeds: int, epochs: int | None) -> dict:
    import mmcl

    runs = []
    with tempfile.TemporaryDirectory(prefix="ours-") as tmp:
        result = mmcl.train(data, model, out=tmp, seeds=seeds, epochs=epochs,
                            recipe=f"{model}_mosi")  # fmt: skip
        params = sum(p.numel() for p in mmcl.load_run(tmp).model.parameters() if p.requires_grad)
        for seed_dir in result.seeds:
            log = [json.loads(x) for x in (seed_dir / "log.jsonl").read_text().splitlines()]
            test = json.loads((seed_dir / "metrics.json").read_text())["test"]
            runs.append(
                {
                    "seed": int(seed_dir.name.split("-")[1]),
                    "params": params,
                    "epochs": len(log),
                    "seconds_per_epoch": statistics.mean(r["seconds"] for r in log),
                    **{m: float(test[m]) for m in METRICS},
                }
            )
    return {"runs": runs}


# ----------------------------------------------------------------------------- report
def cell(runs: list[dict], key: str, digits: int = 3) -> str:
    """Mean ± std over the seeds; a Corr that is undefined (a constant predictor) is left
    out and counted."""
    values = [r[key] for r in runs]
    finite = [v for v in values if np.isfinite(v)]
    note = f" ({len(values) - len(finite)} undefined)" if len(finite) < len(values) else ""
    if not finite:
        return f"undefined{note}"
    if len(finite) == 1:
        return f"{finite[0]:.{digits}f}{note}"
    return f"{np.mean(finite):.{digits}f} ± {np.std(finite, ddof=1):.{digits}f}{note}"


def accuracies(sides: dict[str, dict]) -> tuple[list[float], list[float]] | None:
    """MMSA's seeds' and ours' test Non0_acc_2, or None when a side did not run."""
    if any("error" in got for got in sides.values()):
        return None
    theirs, ours = ([r["Non0_acc_2"] for r in got["runs"]] for got in sides.values())
    return theirs, ours


def verdict(sides: dict[str, dict]) -> str:
    """Our mean test Non0_acc_2 against the range of MMSA's seeds: above, within or below."""
    if (both := accuracies(sides)) is None:
        return ""
    theirs, ours = both
    mean = float(np.mean(ours))
    slack = 1e-4  # below one test sample: the sides round the same accuracy differently
    if mean > max(theirs) + slack:
        return "above"
    return "below" if mean < min(theirs) - slack else "within"


def welch_p(sides: dict[str, dict]) -> float | None:
    """Welch's t-test of the two sides' seeds' test Non0_acc_2 (two-sided): whether a gap
    between the means is more than the seeds' spread explains. None when a side did not
    run or has one seed; NaN when neither side's seeds spread. Both sides are taken at
    MMSA's 4 decimals: ours are not rounded, and an equal score must not look apart."""
    if (both := accuracies(sides)) is None:
        return None
    theirs, ours = (np.round(accs, 4) for accs in both)
    if min(len(theirs), len(ours)) < 2:
        return None
    if np.ptp(theirs) == 0 and np.ptp(ours) == 0:
        return float("nan")
    with warnings.catch_warnings():  # a side without spread: scipy warns, the test holds
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(ours, theirs, equal_var=False).pvalue)


def table(found: dict[str, dict[str, dict]], stamps: dict[str, str] | None = None) -> str:
    """Per model and side: parameters, test metrics, epochs, s/epoch; our mean Non0_acc_2
    against MMSA's seeds' range; when each model was measured (`stamps`)."""
    lines = [
        "| model | side | parameters | Non0_acc_2 | Corr | MAE | epochs | s per epoch "
        "| ours vs MMSA's range (Welch's t-test) | measured |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, sides in found.items():
        if "not comparable" in sides:  # one row: neither side ran
            reason = sides["not comparable"]
            lines.append(f"| `{model}` | neither | not comparable: {reason} | | | | | | | |")
            continue
        p = welch_p(sides)
        said = verdict(sides)
        if p is not None:
            shown = "< 0.01" if p < 0.01 else f"= {p:.2f}"
            said += f" (Welch p {shown})" if np.isfinite(p) else " (no spread: no t-test)"
        for k, (side, got) in enumerate(sides.items()):
            last = f" {said if k else ''} | {(stamps or {}).get(model, '') if k else ''} |"
            if "error" in got:
                lines.append(f"| `{model}` | {side} | not run: {got['error']} | | | | | |{last}")
                continue
            runs = got["runs"]
            epochs = "/".join(str(r["epochs"]) for r in runs)
            lines.append(
                f"| `{model}` | {side} | {runs[0]['params']:,} | {cell(runs, 'Non0_acc_2')} | "
                f"{cell(runs, 'Corr')} | {cell(runs, 'MAE')} | {epochs} | "
                f"{cell(runs, 'seconds_per_epoch', 2)} |{last}"
            )
    return "\n".join(lines)


@functools.cache
def mmsa_config() -> dict:
    """MMSA's config_regression.json (read once)."""
    return json.loads((MMSA_DIR / "MMSA" / "config" / "config_regression.json").read_text())


def mmsa_flags(model: str) -> dict:
    """MMSA's `need_data_aligned` and `use_bert` for the model on MOSI, from its config."""
    config = mmsa_config()
    common = config[model]["commonParams"]
    mosi = config[model]["datasetParams"]["mosi"]
    return {
        "aligned": bool(common.get("need_data_aligned")),
        "bert": bool(mosi.get("use_bert", common.get("use_bert"))),
    }


def not_comparable(model: str) -> str:
    """Why MMSA 2.2.1 cannot run `model` on these data ("" when it can)."""
    if model not in mmsa_config():
        return "not in MMSA 2.2.1, the last release on PyPI (its source came later)"
    if mmsa_flags(model)["bert"]:
        return "MMSA reads its text through BERT-base (use_bert), not offline here"
    return ""


def param_gap(sides: dict[str, dict]) -> int:
    """MMSA's parameter count minus ours (0 when a side did not run)."""
    counts = [got["runs"][0]["params"] for got in sides.values() if "runs" in got]
    return counts[0] - counts[1] if len(counts) == 2 else 0


def sign_shares(data: str) -> dict[str, float]:
    """The shares of positive and of negative labels among the test split's non-zero ones:
    the Non0_acc_2 of calling every test sample positive (or negative)."""
    import mmcl

    labels = np.asarray(mmcl.load_dataset(data).splits["test"].labels, dtype=float).ravel()
    nonzero = labels[labels != 0]
    return {"positive": float(np.mean(nonzero > 0)), "negative": float(np.mean(nonzero < 0))}


def one_signed(sides: dict[str, dict], shares: dict[str, float] | None) -> str:
    """A note for each side whose every seed scored exactly a one-signed predictor's
    Non0_acc_2 (`shares`), or ""."""
    if "not comparable" in sides:  # neither side ran
        return ""
    said = []
    for side, got in sides.items():
        accs = [r["Non0_acc_2"] for r in got.get("runs", [])]
        for sign, share in (shares or {}).items():
            if accs and all(abs(a - share) < 1e-4 for a in accs):
                said.append(
                    f"{side}: every seed's test Non0_acc_2 is {share:.4f}, the share of {sign} "
                    f"labels among the non-zero test labels, as when every test sample is "
                    f"called {sign}."
                )
    return " ".join(said)


def stamp_text(entry: dict) -> str:
    """When a model was measured: commit, date, seeds (and where a side was reused from)."""
    m = entry["measured"]
    text = f"{m['commit']}, {m['date']}, {m['seeds']} seeds"
    text += f", {m['epochs']} epochs at most" if m["epochs"] else ""
    for side, got in entry["sides"].items():
        if "measured" in got:  # reused from an earlier run
            text += f" ({side}: {got['measured']['commit']}, {got['measured']['date']})"
    return text


def saved_side(path: Path | None, model: str, side: str) -> dict:
    """One side of a model as the --save file holds it, with when it was measured (a side
    reused before keeps the stamp of the run that measured it, not of the run that reused it)."""
    if path is None or not path.is_file():
        sys.exit("--only-mmsa and --only-ours reuse a side from --save: give the file.")
    entry = json.loads(path.read_text())["models"].get(model)
    if entry is None or side not in entry.get("sides", {}):
        sys.exit(f"{path} holds no {side} side of {model}; run both sides.")
    return {"measured": entry["measured"], **entry["sides"][side]}


def save(args: argparse.Namespace, found: dict) -> None:
    """Write the models measured now into `args.save`, keeping the models it holds from
    earlier runs; each model carries the command, commit and date that measured it."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    stamp = {
        "command": " ".join(["benchmarks/mmsa_side_by_side.py", *sys.argv[1:]]),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "data": args.data,
        "seeds": args.seeds,
        "epochs": args.epochs,
    }
    old = json.loads(args.save.read_text()) if args.save.is_file() else {}
    models = {
        # files of an earlier layout hold one stamp for all their models
        m: e if "sides" in e else {"sides": e, "measured": {k: old[k] for k in stamp}}
        for m, e in old.get("models", {}).items()
    }
    models.update({m: {"sides": sides, "measured": stamp} for m, sides in found.items()})
    # in the zoo's order, whichever order the runs came in (a model outside it goes last)
    rank = {m: k for k, m in enumerate(MODELS)}
    models = dict(
        sorted(models.items(), key=lambda kv: (rank.get(kv[0].split(",")[0], len(MODELS)), kv[0]))
    )
    stamps = {m: stamp_text(e) for m, e in models.items()}
    # per data folder measured on; kept from the file where the folder is gone (--redraw)
    shares = old.get("sign_shares", {})
    for e in models.values():
        data = e["measured"]["data"]
        if data not in shares and Path(data).exists():
            shares[data] = sign_shares(data)
    notes = {
        m: " ".join(
            n
            for n in (
                NOTES[m].format(diff=abs(param_gap(e["sides"]))) if m in NOTES else "",
                one_signed(e["sides"], shares.get(e["measured"]["data"])),
            )
            if n
        )
        for m, e in models.items()
    }
    record = {
        "table": table({m: e["sides"] for m, e in models.items()}, stamps),
        "notes": {m: n for m, n in notes.items() if n},
        "sign_shares": shares,
        # above / within / below MMSA's seeds' range; "" when a side did not run
        "verdicts": {
            m: verdict(e["sides"]) for m, e in models.items() if "not comparable" not in e["sides"]
        },
        # Welch's t-test of the sides' seeds, where both ran with two seeds or more
        "welch_p": {
            m: p
            for m, e in models.items()
            if "not comparable" not in e["sides"] and (p := welch_p(e["sides"])) is not None
        },
        "models": models,
    }
    tmp = args.save.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(args.save)


def both_sides(
    args: argparse.Namespace, model: str, pickles: dict[bool, Path], ours: str, ours_aligned: str
) -> dict[str, dict]:
    """MMSA's side and ours of one model (either reused from --save when asked), or why
    the two cannot be set side by side ({"not comparable": reason})."""
    why_not = not_comparable(model)
    if why_not:  # neither side runs: there is nothing to set ours beside
        print(f"{model}: not comparable: {why_not}", file=sys.stderr, flush=True)
        return {"not comparable": why_not}
    aligned = mmsa_flags(model)["aligned"] or model in ALIGNED_ANYWAY
    if args.ours_read_mmsa_pickle:  # MMSA's side as --save holds it, ours on its very file
        print(f"{model}: ours, reading MMSA's pickle ...", file=sys.stderr, flush=True)
        return {
            "MMSA 2.2.1": saved_side(args.save, model, "MMSA 2.2.1"),
            "mmcl": run_ours(model, str(pickles[aligned]), args.seeds, args.epochs),
        }
    if args.only_ours:
        mmsa = saved_side(args.save, model, "MMSA 2.2.1")
    else:
        print(f"{model}: MMSA ...", file=sys.stderr, flush=True)
        mmsa = run_mmsa(model, pickles[aligned], args.seeds, args.epochs)
    if args.only_mmsa:
        return {"MMSA 2.2.1": mmsa, "mmcl": saved_side(args.save, model, "mmcl")}
    print(f"{model}: ours ...", file=sys.stderr, flush=True)
    return {
        "MMSA 2.2.1": mmsa,
        "mmcl": run_ours(model, ours_aligned if aligned else ours, args.seeds, args.epochs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/mosi")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, help="a quick look: see the notes above")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--save", type=Path, help="also write the table and figures here (JSON)")
    ap.add_argument(
        "--only-mmsa",
        action="store_true",
        help="run MMSA's side only, reusing our side as --save holds it",
    )
    ap.add_argument(
        "--only-ours",
        action="store_true",
        help="run our side only, reusing MMSA's side as --save holds it",
    )
    ap.add_argument(
        "--redraw",
        action="store_true",
        help="run nothing: redraw the table, notes and verdicts of the --save file",
    )
    ap.add_argument(
        "--ours-read-mmsa-pickle",
        action="store_true",
        help="run our side only, on the pickle MMSA's side reads (no lengths there: every "
        "step counts, padding included, as MMSA reads it), beside MMSA's side as --save "
        f"holds it; saved as '<model>{ON_MMSA_PICKLE}'",
    )
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # model pickle seeds
    args = ap.parse_args()
    if args.child:
        model, path, seeds = args.child
        print(json.dumps(mmsa_child(model, path, list(range(int(seeds))), args.epochs)))
        return
    if args.redraw:
        if args.save is None or not args.save.is_file():
            sys.exit("--redraw redraws the file --save names: give an existing one.")
        save(args, {})
        print(json.loads(args.save.read_text())["table"])
        return
    if not (MMSA_DIR / "MMSA").is_dir():
        sys.exit(f"MMSA is not installed in {MMSA_DIR}: run `make mmsa-env` first.")
    if not Path(args.data).exists():
        sys.exit(f"--data {args.data}: not found; import MOSI first (mmcl data import mosi ...).")
    found: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
        pickles = {}
        for aligned in (False, True):
            pickles[aligned] = Path(tmp) / f"mosi-{'aligned' if aligned else 'utterance'}.pkl"
            mmsa_pickle(args.data, pickles[aligned], aligned)
        ours_data = with_zero_vision(args.data, Path(tmp) / "with-vision")
        ours_aligned = with_zero_vision(args.data, Path(tmp) / "aligned", aligned=True)
        for model in args.models.split(","):
            key = model + (ON_MMSA_PICKLE if args.ours_read_mmsa_pickle else "")
            found[key] = both_sides(args, model, pickles, ours_data, ours_aligned)
            rows = table({key: found[key]}).splitlines()[2:]  # without the header
            print("\n".join(rows), file=sys.stderr, flush=True)
            if args.save:  # after each model: a failure later keeps what was measured
                save(args, found)
    print(table(found))
    if args.json:
        print(json.dumps({"models": found}))


if __name__ == "__main__":
    main()
