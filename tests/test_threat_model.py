"""The threat model of docs/reliability.md, one test per class of hostile or careless input:
nothing outside the data is read, no user file is lost, a small file allocates no gigabytes,
every user mistake is one line and exit 2, user text is printed as written."""

import csv
import json
import os
import pickle
import shutil

import h5py
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.config import resolve_config
from mmcl.data.io import atomic_folder, check_output, csv_cell
from mmcl.data.loader import load_dataset
from mmcl.data.native import write_native
from mmcl.data.pickles import write_mmsa
from mmcl.data.safe_pickle import expanded_bytes, safe_load
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError
from mmcl.experiments.studies import masked
from mmcl.features.audio import AudioParams, extract_audio, wav_features
from mmcl.features.tables import read_csv_rows
from mmcl.features.text import extract_text
from mmcl.limits import ENV, FLOOR, Budget, allowance

runner = CliRunner()
SECRET = b"TOP-SECRET-CANARY-0123456789"
SMALL = SynthConfig(
    n_train=24, n_valid=8, n_test=8, seq_len=3, dims={"text": 4, "audio": 2, "vision": 2}
)


def _one_video(csd_folder):
    f = next(p for p in csd_folder.glob("*.csd") if "COVAREP" in p.name)
    h5 = h5py.File(f, "a")
    video = next(iter(h5["COVAREP"]["data"].values()))
    n = video["features"].shape[0]
    del video["features"]
    return h5, video, n


# --- HDF5: nothing outside the file is read ------------------------------------------------


def test_external_raw_storage_is_refused_and_its_bytes_reach_no_output(tmp_path, csd_folder):
    secret = tmp_path / "outside.txt"
    secret.write_bytes(SECRET * 1000)
    h5, video, n = _one_video(csd_folder)
    with h5:
        video.create_dataset("features", shape=(n, 5), dtype="f4", external=[(secret, 0, n * 20)])
    out = tmp_path / "out"
    r = runner.invoke(app, ["data", "convert", str(csd_folder), str(out)])
    assert r.exit_code == 2, r.output
    assert "other files" in r.output and "COVAREP" in r.output
    assert not out.exists()
    for p in tmp_path.rglob("*"):
        assert p == secret or not p.is_file() or SECRET not in p.read_bytes(), p


@pytest.mark.parametrize("kind", ["external link", "soft link", "virtual", "strings"])
def test_links_virtual_datasets_and_text_are_refused(tmp_path, csd_folder, kind):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("d", data=np.ones((4, 5), "f4"))
    h5, video, n = _one_video(csd_folder)
    with h5:
        if kind == "external link":
            video["features"] = h5py.ExternalLink(str(other), "/d")
        elif kind == "soft link":
            video["features"] = h5py.SoftLink("/nowhere")
        elif kind == "virtual":
            layout = h5py.VirtualLayout(shape=(n, 5), dtype="f4")
            layout[:] = h5py.VirtualSource(str(other), "d", shape=(n, 5))
            video.create_virtual_dataset("features", layout)
        else:
            video.create_dataset("features", data=np.array([["x"] * 5] * n, dtype="S2"))
    with pytest.raises(UserError, match="COVAREP"):
        load_dataset(csd_folder)


def test_a_compressed_hdf5_bomb_is_refused_before_decompressing(csd_folder):
    h5, video, _ = _one_video(csd_folder)
    with h5:  # 800 MB of zeros in a few KB of gzip
        video.create_dataset("features", shape=(40_000, 5_000), dtype="f4", compression="gzip")
    assert sum(p.stat().st_size for p in csd_folder.iterdir()) < 2 << 20
    with pytest.raises(UserError, match="memory budget"):
        load_dataset(csd_folder)


# --- the memory budget ------------------------------------------------------------------------


def test_the_budget_grows_with_the_file_and_can_be_raised(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    small, large = tmp_path / "s", tmp_path / "l"
    small.write_bytes(b"x" * 1000)
    large.write_bytes(os.urandom(40 << 20))
    assert allowance(small) == FLOOR == allowance(None)
    assert allowance(large) > FLOOR
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as f:
        f.truncate(10 << 30)  # declares 10 GB, holds nothing
    assert allowance(sparse) == FLOOR
    with pytest.raises(UserError, match="memory budget"):
        Budget(small).charge(FLOOR + 1, "an array")
    monkeypatch.setenv(ENV, "2")
    Budget(small).charge(FLOOR + 1, "an array")
    monkeypatch.setenv(ENV, "nan")
    with pytest.raises(UserError, match=ENV):
        allowance(small)


def test_pickle_with_shared_references_is_charged_at_every_use(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    a = np.zeros((1000, 1000), np.float32)
    path = tmp_path / "bomb.pkl"
    path.write_bytes(pickle.dumps({"train": {"vision": [a] * 200}}, protocol=4))
    assert path.stat().st_size < 5 << 20
    assert expanded_bytes([a] * 200) >= 200 * a.nbytes
    nested = [[a] * 100] * 100  # measured without walking 10^4 references one by one
    assert expanded_bytes(nested) >= 10_000 * a.nbytes
    with pytest.raises(UserError, match="memory budget"):
        safe_load(path)
    r = runner.invoke(app, ["--memory-budget", "2", "data", "inspect", str(path)])
    assert "memory budget" not in r.output  # raised: the file is read (and is not a dataset)


@pytest.mark.parametrize(
    "body",
    [
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xca\x9a;\x85U\x01O\x87R",
        b"cbuiltins\nbytearray\n\x8a\x05\x00\x00\x00\x00\x02\x85R",
    ],
    ids=["reconstruct 1e9 objects", "bytearray 8 GB"],
)
def test_tiny_pickles_declaring_gigabytes_are_refused(tmp_path, body):
    path = tmp_path / "h.pkl"
    path.write_bytes(b"\x80\x02" + body + b".")
    with pytest.raises(UserError, match="memory budget"):
        safe_load(path)


def test_a_pickle_length_field_longer_than_the_file_is_refused(tmp_path):
    path = tmp_path / "h.pkl"
    path.write_bytes(b"\x80\x04\x8e\x00\x00\x00\x00\x10\x00\x00\x00.")  # BINBYTES8 64 GB
    with pytest.raises(UserError, match="declares a value"):
        safe_load(path)


def test_a_sparse_npy_in_a_native_folder_is_refused(tmp_path):
    out = write_native(make_synthetic(SMALL), tmp_path / "nat")
    with open(out / "train" / "labels.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (5_000_000_000,)}
        )
        f.truncate(f.tell() + 20_000_000_000)
    with pytest.raises(UserError, match="memory budget"):
        load_dataset(out)


def test_a_1_hz_wav_is_refused_before_resampling(tmp_path):
    wav = tmp_path / "slow.wav"
    sf.write(wav, np.zeros(72_000, np.float32), 1, subtype="PCM_16")  # 20 hours at 1 Hz
    with pytest.raises(UserError, match="slow.wav"):
        wav_features(wav, AudioParams())


@pytest.mark.parametrize("setting", ["mmcl.d_model=10000000", "mmcl.ffn_dim=100000000"])
def test_a_model_too_large_for_the_budget_is_refused_before_it_is_built(tmp_path, setting):
    data = tmp_path / "nat"
    write_native(make_synthetic(SMALL), data)
    r = runner.invoke(
        app, ["train", "--data", str(data), "--model", "mmcl", "--out", str(tmp_path / "r"),
              "--set", setting],
    )  # fmt: skip
    assert r.exit_code == 2 and "memory budget" in r.output, r.output


def test_synthetic_sizes_are_charged(tmp_path):
    r = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "s"), "--n-train", "x"])
    assert r.exit_code == 2
    r = runner.invoke(
        app, ["data", "synth", "--out", str(tmp_path / "s"), "--n-train", "1000000000"]
    )
    assert r.exit_code == 2 and "memory budget" in r.output, r.output


# --- outputs: nothing of the user's is replaced ---------------------------------------------


def test_extract_text_leaves_a_users_folder_in_place(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(UserError, match="--overwrite"):
        extract_text(["hello"], ["a"], out)
    assert (out / "thesis.tex").read_text() == "years of work"
    given_file = tmp_path / "notes.txt"
    given_file.write_text("mine")
    with pytest.raises(UserError, match="is a file"):
        extract_text(["hello"], ["a"], given_file)
    assert given_file.read_text() == "mine"


def test_extract_audio_leaves_a_users_folder_in_place(tmp_path):
    wavs = tmp_path / "w"
    wavs.mkdir()
    sf.write(wavs / "a.wav", np.zeros(1600, np.float32), 16000)
    (wavs / "x.wav").mkdir()  # a folder with a .wav name is not a WAV file
    out = tmp_path / "mine"
    out.mkdir()
    (out / "data.csv").write_text("mine")
    with pytest.raises(UserError, match="--overwrite"):
        extract_audio(wavs, out)
    assert (out / "data.csv").read_text() == "mine"
    path, _ = extract_audio(wavs, tmp_path / "table")
    assert (path / "manifest.json").is_file()
    (out / "manifest.json").write_text("{")  # a damaged manifest: not a table, and no obstacle
    with pytest.raises(UserError, match="--overwrite"):
        extract_audio(wavs, out)
    extract_audio(wavs, out, overwrite=True)  # asked for: replaced
    assert not (out / "data.csv").exists()


def test_overwrite_never_takes_the_working_or_home_folder(tmp_path, monkeypatch):
    (tmp_path / "x").write_text("1")
    monkeypatch.chdir(tmp_path)
    for target in (tmp_path, tmp_path / ".."):
        with pytest.raises(UserError, match="even with --overwrite"):
            check_output(target, overwrite=True)
    (tmp_path / "x").unlink()  # even an empty working folder is never replaced
    for target in (".", tmp_path):
        with pytest.raises(UserError, match="not this one"), atomic_folder(target):
            pass
    assert tmp_path.is_dir()


def test_a_killed_writers_temporary_is_removed_by_the_next_writer(tmp_path):
    stale = tmp_path / ".out.mmcl-tmp-abc"
    stale.mkdir()
    (stale / "big.npy").write_bytes(b"x" * 1000)
    with atomic_folder(tmp_path / "out") as tmp:
        (tmp / "a").write_text("1")
    assert not stale.exists() and (tmp_path / "out" / "a").is_file()


def test_a_killed_writers_temporary_file_is_removed_by_the_next_writer(tmp_path):
    from mmcl.data.io import atomic_file

    dead = tmp_path / ".p.csv.mmcl-tmp-999999999-abc"  # no such process
    live = tmp_path / f".p.csv.mmcl-tmp-{os.getpid()}-abc"  # this one: still writing
    dead.write_text("half")
    live.write_text("half")
    with atomic_file(tmp_path / "p.csv") as f:
        f.write("id\n")
    assert not dead.exists() and live.exists()


def test_compare_does_not_replace_a_users_compare_md(tmp_path):
    out = tmp_path / "c"
    out.mkdir()
    (out / "compare.md").write_text("my notes")
    r = runner.invoke(
        app, ["compare", "--models", "late_fusion", "--data", "synthetic", "--out", str(out)]
    )
    assert r.exit_code == 2 and "compare.md" in r.output, r.output
    assert (out / "compare.md").read_text() == "my notes"


def test_csv_cells_that_spreadsheets_run_are_escaped():
    assert csv_cell("=1+1") == "'=1+1"
    for text in ("+SUM(A1)", "-cmd", "@x", "\tx", "\rx"):
        assert csv_cell(text) == "'" + text
    assert csv_cell("-0.5") == "-0.5" and csv_cell(-0.5) == -0.5 and csv_cell("a=b") == "a=b"


# --- run folders ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    data = write_native(make_synthetic(SMALL), root / "nat")
    out = root / "run"
    r = runner.invoke(
        app,
        ["train", "--data", str(data), "--model", "late_fusion", "--epochs", "1", "--seeds", "2",
         "--out", str(out), "--set", "train.diagnostics=false"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return data, out


def test_a_seed_folder_linking_out_of_the_run_is_refused(tmp_path, trained):
    _, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(copy / "seed-0", elsewhere)
    (copy / "seed-0").symlink_to(elsewhere)
    r = runner.invoke(app, ["evaluate", str(copy)])
    assert r.exit_code == 2 and "symbolic link" in r.output, r.output
    assert not list(elsewhere.glob("eval-*"))


def test_non_finite_weights_are_refused_at_evaluate_and_predict(tmp_path, trained):
    from safetensors.numpy import load_file, save_file

    _, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    for seed in ("seed-0", "seed-1"):
        w = load_file(str(copy / seed / "model.safetensors"))
        save_file(
            {k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v for k, v in w.items()},
            str(copy / seed / "model.safetensors"),
        )
    for args in (["evaluate", str(copy)], ["predict", str(copy), "--out", str(tmp_path / "p.csv")]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and "NaN" in r.output, r.output


def test_predict_does_not_replace_a_users_file_unless_asked(tmp_path, trained):
    _, run = trained
    mine = tmp_path / "p.csv"
    mine.write_text("my own table")
    r = runner.invoke(app, ["predict", str(run), "--out", str(mine)])
    assert r.exit_code == 2 and "--overwrite" in r.output, r.output
    assert mine.read_text() == "my own table"
    r = runner.invoke(app, ["predict", str(run), "--out", str(mine), "--overwrite"])
    assert r.exit_code == 0 and mine.read_text().startswith("id,"), r.output


def test_weights_are_written_with_the_users_umask(trained):
    _, run = trained
    umask = os.umask(0)
    os.umask(umask)
    mode = (run / "seed-0" / "model.safetensors").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask  # safetensors alone writes 0600


def test_resume_refuses_another_model_and_summarises_every_finished_seed(tmp_path, trained):
    data, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    base = ["train", "--data", str(data), "--epochs", "1", "--out", str(copy), "--resume"]
    r = runner.invoke(app, [*base, "--model", "lf_dnn"])
    assert r.exit_code == 2 and "model" in r.output, r.output
    r = runner.invoke(app, [*base, "--model", "late_fusion", "--seeds", "1",
                            "--set", "train.diagnostics=false"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads((copy / "summary.json").read_text())["seeds"] == [0, 1]


# --- user mistakes: one line, exit 2 --------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("train.lr=nan", "train.lr"),
        ("train.lr=inf", "train.lr"),
        ("train.lr=1e400", "train.lr"),
        ("train.weight_decay=-1", "train.weight_decay"),
        ("mmcl.n_heads=0", "mmcl.n_heads"),
        ("mmcl.n_heads=3", "n_heads"),
        ("mmcl.d_model=-4", "mmcl.d_model"),
        ("mmcl.dropout=1.5", "mmcl.dropout"),
        ("mmcl.w_sim=nan", "mmcl.w_sim"),
    ],
)
def test_out_of_range_options_are_refused(setting, named):
    with pytest.raises(UserError, match=named.replace(".", r"\.")):
        resolve_config(model="mmcl", overrides=[setting])


def test_train_lr_nan_exits_2_without_training(tmp_path):
    out = tmp_path / "r"
    r = runner.invoke(
        app, ["train", "--data", "synthetic", "--out", str(out), "--set", "train.lr=nan"]
    )
    assert r.exit_code == 2 and "train.lr" in r.output, r.output
    assert not (out / "seed-0").exists()


def test_deep_toml_set_values_and_self_including_grids_are_refused(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(UserError, match="deep.toml"):
        resolve_config(recipe=str(deep))
    with pytest.raises(UserError, match="--set"):
        resolve_config(overrides=["train.lr=" + "[" * 5000 + "1" + "]" * 5000])
    grid = tmp_path / "g.toml"
    grid.write_text(f'grid = "{grid}"\nmodels = ["late_fusion"]\n')
    r = runner.invoke(app, ["compare", "--grid", str(grid), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "include themselves" in r.output, r.output


def test_csv_byte_order_marks_short_and_long_rows(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("\ufeffid,text\na,hello\n", encoding="utf-8")
    assert read_csv_rows(f, ["id", "text"], "--in")[0]["id"] == "a"
    f.write_text("id,text\na,hello\nb\n", encoding="utf-8")
    with pytest.raises(UserError, match="data row 2"):
        read_csv_rows(f, ["id", "text"], "--in")
    # an unquoted comma in a transcript would otherwise cut it short without a word
    f.write_text('id,text\na,"well, yes"\nb,well, no\n', encoding="utf-8")
    with pytest.raises(UserError, match="data row 2 has 3 cells, the header 2.*quoted"):
        read_csv_rows(f, ["id", "text"], "--in")
    f.write_text('id,text\na,"well, yes"\n', encoding="utf-8")
    assert read_csv_rows(f, ["id", "text"], "--in")[0]["text"] == "well, yes"


@pytest.mark.parametrize("text", ["{", "[1, 2]", "[" * 100_000])
def test_damaged_folds_and_lock_files(tmp_path, csd_folder, text):
    (csd_folder / "folds.json").write_text(text)
    with pytest.raises(UserError, match="folds.json"):
        load_dataset(csd_folder)
    out = tmp_path / "o"
    out.mkdir()
    (out / ".mmcl.lock").write_text(text)  # unreadable: its owner is unknown, so it is held
    r = runner.invoke(app, ["train", "--data", "synthetic", "--out", str(out), "--epochs", "1"])
    assert r.exit_code == 2 and ".mmcl.lock" in r.output, r.output


# --- printing and secrets -------------------------------------------------------------------


def test_user_text_is_printed_as_written(tmp_path):
    odd = tmp_path / "[/x] [bold]b[/bold]"
    r = runner.invoke(app, ["data", "inspect", str(odd)])
    assert r.exit_code == 2, r.output
    assert str(odd) in r.output


def test_predicted_csv_escapes_formula_ids(tmp_path):
    from mmcl.evaluation.inference import predictions_csv

    ds = make_synthetic(SMALL)
    ds.splits["test"].ids[:] = "=1+1"
    preds = np.zeros(len(ds.splits["test"]), np.float32)
    rows = list(csv.reader(predictions_csv(ds, "test", preds).splitlines()))
    assert rows[1][0] == "'=1+1"


def test_storage_passwords_are_masked():
    url = "postgresql://me:hunter2@db.example:5432/studies"
    assert masked(url) == "postgresql://me:***@db.example:5432/studies"
    assert masked("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    with pytest.raises(UserError) as e:
        from mmcl.experiments.studies import open_storage

        open_storage("postgresql://me:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(e.value) and "***" in str(e.value)


def test_an_mmsa_pickle_still_loads(tmp_path):
    path = write_mmsa(make_synthetic(SMALL), tmp_path / "a.pkl")
    assert len(load_dataset(path).splits["train"]) == SMALL.n_train
