"""Offline text extraction and the importers of the real sets in ../shared/data (small
subsets, so the suite stays fast)."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import SHARED, needs_shared
from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.data.dataset import DataError
from mmcl.data.loader import load_dataset
from mmcl.features.importers import import_dataset

runner = CliRunner()


def test_extract_text_cli_shapes_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = tmp_path / "in.csv"
    src.write_text("uid,sentence\na,this movie was wonderful\nb,awful\n")
    out = tmp_path / "feat"
    args = [
        "extract",
        "text",
        "--in",
        str(src),
        "--text-col",
        "sentence",
        "--id-col",
        "uid",
        "--out",
        str(out),
        "--max-len",
        "8",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output + repr(r.exception)
    feats = np.load(out / "features.npy")
    assert feats.shape == (2, 8, 384)
    lengths = np.load(out / "lengths.npy")
    assert lengths.tolist() == [6, 3]  # [CLS] this movie was wonderful [SEP] ; [CLS] awful [SEP]
    assert not feats[1, 3:].any()  # padding stays zero
    pooled = np.load(out / "pooled.npy")
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, rtol=1e-5)
    tokens = np.load(out / "tokens.npy")
    assert tokens[0, 0] == 101 and tokens[0, 5] == 102  # BERT uncased [CLS] ... [SEP]
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "cached by content hash" in r.output
    r = runner.invoke(app, ["extract", "text", "--in", str(src), "--out", str(out)])
    assert r.exit_code == 2 and "no column(s) ['text', 'id']" in r.output


def _subset_csv(src: Path, dst: Path, keep) -> None:
    with open(src, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [r for r in reader if keep(r)]
        fields = reader.fieldnames
    with open(dst, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _mosi_source(folder: Path, quota: dict[str, int]) -> Path:
    """A MOSI source folder with the first `quota[split]` segments of each split."""
    folder.mkdir()
    shutil.copy(SHARED / "mosi" / "audio_utterance73.npz", folder)
    seen: dict[str, int] = {}

    def keep(r):
        seen[r["split"]] = seen.get(r["split"], 0) + 1
        return seen[r["split"]] <= quota[r["split"]]

    _subset_csv(SHARED / "mosi" / "labels.csv", folder / "labels.csv", keep)
    return folder


@needs_shared
def test_import_mosi_subset(tmp_path):
    src = _mosi_source(tmp_path / "mosi", {"train": 6, "valid": 6, "test": 6})
    shutil.copy(SHARED / "mosi" / "README.md", src)
    ds = import_dataset("mosi", src, tmp_path / "out", max_len=12)
    back = load_dataset(tmp_path / "out")
    assert back.preset == "mosi" and back.dims() == {"text": 384, "audio": 73}
    assert [len(back.splits[s]) for s in ("train", "valid", "test")] == [6, 6, 6]
    assert back.splits["train"].ids[0] == "03bSnISJMiM_1"
    assert back.splits["train"].labels[0] == pytest.approx(2.4)
    assert back.splits["train"].raw_text[0] == "anyhow it was really good"
    audio = np.load(SHARED / "mosi" / "audio_utterance73.npz")
    np.testing.assert_array_equal(
        back.splits["train"].features["audio"][0, 0], audio["features"][0]
    )
    assert back.splits["train"].tokens[0, 0] == 101
    assert (tmp_path / "out" / "PROVENANCE.md").is_file()
    assert ds.seq_lens() == {"text": 12, "audio": 1}
    # nothing written beside OUT (no feature cache, no temporary folder left)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mosi", "out"]


@needs_shared
@pytest.mark.parametrize(
    ("name", "sizes", "kind"),
    [("mmmo", [220, 40, 80], "regression"), ("youtube", [173, 36, 60], "multiclass")],
)
def test_import_mfn_sets(tmp_path, name, sizes, kind):
    ds = import_dataset(name, SHARED / name, tmp_path / name)
    back = load_dataset(tmp_path / name)
    assert back.modalities == ["audio", "vision"] and back.dims() == {"audio": 74, "vision": 36}
    assert [len(back.splits[s]) for s in ("train", "valid", "test")] == sizes
    assert back.task.kind == kind and back.preset == name
    z = np.load(SHARED / name / "test.npz")
    np.testing.assert_array_equal(back.splits["test"].features["vision"], z["vision"])
    assert ds.task == back.task


@needs_shared
def test_import_iemocap_and_cmdc_subsets(tmp_path):
    src = tmp_path / "iemocap"
    src.mkdir()
    _subset_csv(
        SHARED / "iemocap" / "utterances.csv",
        src / "utterances.csv",
        lambda r: int(r["utterance_index"]) < 2,
    )
    ds = import_dataset("iemocap", src, tmp_path / "iem", max_len=10)
    assert ds.task.num_classes == 6 and ds.modalities == ["text"]
    assert set(np.unique(ds.splits["train"].labels)) <= set(range(6))
    src = tmp_path / "cmdc"
    src.mkdir()
    _subset_csv(
        SHARED / "cmdc_like" / "interviews.csv",
        src / "interviews.csv",
        lambda r: int(r["id"].split("_")[1]) <= 40,
    )
    ds = import_dataset("cmdc", src, tmp_path / "cmdc_out", max_len=16)
    sizes = [len(ds.splits[s]) for s in ("train", "valid", "test")]
    assert sum(sizes) == 40 and sizes[0] > 2 * (sizes[1] + sizes[2]) / 2
    all_ids = np.concatenate([ds.splits[s].ids for s in ("train", "valid", "test")])
    assert len(set(all_ids)) == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmdc", "cmdc_out", "iem", "iemocap"]
    manifest = json.loads((tmp_path / "cmdc_out" / "manifest.json").read_text())
    assert "seed 0" in manifest["source"] and "stratified by phq_level" in manifest["source"]


def test_a_broken_source_folder_is_named_before_any_text_is_encoded(tmp_path, monkeypatch):
    """A copy of a shared/data set with a column, an array or a value wrong: one DataError
    naming the file and what is wrong, and no output folder."""
    import mmcl.features.importers as importers

    monkeypatch.setattr(importers, "encode_texts", lambda *a: pytest.fail("encoded texts"))
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    np.savez(src / "audio_utterance73.npz", ids=np.array(["s1", "s2"]), features=np.zeros((2, 3)))
    cases = [
        ("segment_id,text,split\ns1,good,train\n", r"labels.csv: no column\(s\) \['label'\]"),
        ("segment_id,text,label,split\ns1,good,2.0,train\ns2,bad,,test\n", "data row 2, holds ''"),
        ("segment_id,text,label,split\ns1,good,1,dev\n", r"'split' holds \['dev'\]"),
        ("segment_id,text,label,split\ns3,good,1,train\n", r"no audio row for 1 segment"),
    ]
    for csv_text, match in cases:
        (src / "labels.csv").write_text(csv_text)
        with pytest.raises(DataError, match=match):
            import_dataset("mosi", src, out)
    (src / "labels.csv").write_text("segment_id,text,label,split\ns1,good,1,train\n")
    np.savez(src / "audio_utterance73.npz", ids=np.array(["s1"]))
    with pytest.raises(DataError, match=r"no array\(s\) \['features'\]"):
        import_dataset("mosi", src, out)
    (src / "audio_utterance73.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a readable .npz file"):
        import_dataset("mosi", src, out)
    (src / "utterances.csv").write_text(
        "utterance_id,text,label_id,split\nu1,hi,2,train\nu2,yo,happy,valid\n"
    )
    with pytest.raises(DataError, match=r"utterances.csv: column 'label_id', data row 2"):
        import_dataset("iemocap", src, out)
    assert not out.exists()


def test_chsims2_and_unknown_names_are_refused(tmp_path):
    r = runner.invoke(app, ["data", "import", "chsims2", str(tmp_path), str(tmp_path / "o")])
    assert r.exit_code == 2 and "labels only" in r.output
    r = runner.invoke(app, ["data", "import", "pom", str(tmp_path), str(tmp_path / "o")])
    assert r.exit_code == 2 and "importable" in r.output


@pytest.fixture(scope="module")
def mosi_subset(tmp_path_factory):
    """Real MOSI: the first 400/80/40 segments of each split, text from MiniLM, 24 tokens."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not beside the repo")
    tmp = tmp_path_factory.mktemp("mosi")
    src = _mosi_source(tmp / "src", {"train": 400, "valid": 80, "test": 40})
    import_dataset("mosi", src, tmp / "data", max_len=24)
    return tmp / "data"


def test_predict_raw_text_offline_gives_the_right_polarity(tmp_path, mosi_subset, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(mosi_subset),
            "--model",
            "late_fusion",
            "--set",
            'modalities=["text"]',
            "--epochs",
            "15",
            "--set",
            "train.batch_size=32",
            "--set",
            "train.lr=1e-3",
            "--set",
            "train.diagnostics=false",
            "--out",
            str(run),
        ],
    )
    assert r.exit_code == 0, r.output + repr(r.exception)
    r = runner.invoke(app, ["predict", str(run), "--text", "this movie was wonderful"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    record = json.loads(r.output)
    assert record["score"] > 0 and record["polarity"] == "positive"
    r = runner.invoke(app, ["predict", str(run), "--text", "this movie was terrible"])
    assert json.loads(r.output)["score"] < 0
    # user text is printed as written, never read as terminal markup
    r = runner.invoke(app, ["predict", str(run), "--text", "[bold]fun[/bold] [/x]"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["text"] == "[bold]fun[/bold] [/x]"
    batch = tmp_path / "in.csv"
    batch.write_text("id,text\nx1,i loved it\nx2,boring and bad\n=1+1,@SUM(A1)\n")
    r = runner.invoke(
        app, ["predict", str(run), "--in", str(batch), "--out", str(tmp_path / "p.csv")]
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "p.csv").read_text().splitlines()))
    assert [row["id"] for row in rows] == ["x1", "x2", "'=1+1"] and float(rows[0]["score"]) > float(
        rows[1]["score"]
    )
    assert rows[2]["text"] == "'@SUM(A1)"  # a spreadsheet shows it, does not run it
    # many inputs are encoded and predicted a chunk at a time, with the same results
    from mmcl.evaluation.inference import predict_raw

    texts = ["i loved it", "boring and bad", "it was fine", "great fun", "dull"]
    ids = [f"y{i}" for i in range(len(texts))]
    whole = list(predict_raw(run, ids, texts)[1])
    chunked = list(predict_raw(run, ids, texts, chunk=2)[1])
    assert [r["id"] for r in chunked] == ids and [r["text"] for r in chunked] == texts
    for a, b in zip(whole, chunked, strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,text\n")
    r = runner.invoke(
        app, ["predict", str(run), "--in", str(empty), "--out", str(tmp_path / "e.csv")]
    )
    assert r.exit_code == 2 and "holds no rows" in r.output and not (tmp_path / "e.csv").exists()


def test_predict_raw_text_refuses_a_run_that_needs_audio(tmp_path, mosi_subset):
    run = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(mosi_subset),
            "--model",
            "late_fusion",
            "--epochs",
            "1",
            "--set",
            "train.diagnostics=false",
            "--out",
            str(run),
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["predict", str(run), "--text", "fine"])
    assert r.exit_code == 2 and "the input lacks {'audio': 'source'}" in r.output
    assert "--missing zero|mean" in r.output  # the refusal shows the way out
    outs = {}
    for missing in ("zero", "mean"):
        r = runner.invoke(app, ["predict", str(run), "--text", "fine", "--missing", missing])
        assert r.exit_code == 0, r.output
        assert f"the input has no audio: fed {missing} features" in r.output
        record = json.loads(r.output.strip().splitlines()[-1])
        assert record["missing"] == f"audio={missing}"
        outs[missing] = record["score"]
    assert outs["zero"] != outs["mean"]  # the training mean of audio is not zero


def test_default_data_without_a_mosi_source_says_it_uses_synthetic(tmp_path, monkeypatch):
    from mmcl.experiments.defaults import default_data

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MMCL_MOSI_SRC", str(tmp_path / "nowhere"))
    said = []
    assert default_data(said.append) == "synthetic"
    assert "synthetic" in said[0] and "MMCL_MOSI_SRC" in said[0]


@needs_shared
def test_default_data_imports_mosi_once_and_says_so(tmp_path, monkeypatch):
    from mmcl.experiments.defaults import default_data

    monkeypatch.chdir(tmp_path)
    src = _mosi_source(tmp_path / "mosi", {"train": 3, "valid": 3, "test": 3})
    monkeypatch.setenv("MMCL_MOSI_SRC", str(src))
    said = []
    assert default_data(said.append) == "data/mosi"
    assert "importing the real MOSI" in said[0]
    assert load_dataset(tmp_path / "data" / "mosi").preset == "mosi"
    monkeypatch.setenv("MMCL_MOSI_SRC", str(tmp_path / "nowhere"))
    assert default_data(said.append) == "data/mosi"  # imported once, then reused
    assert "using the real MOSI imported in data/mosi" in said[1]


def test_the_frozen_text_encoder_loads_once_per_process(monkeypatch):
    import mmcl.features.text as text

    loads = []
    real = text.load_text_model
    monkeypatch.setattr(text, "load_text_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    text.frozen_encoder.cache_clear()
    first = text.encode_texts(["a fine day", "a bad one"], batch_size=1, progress=False)
    again = text.encode_texts(["a fine day"], progress=False)  # as predict's next chunk
    assert len(loads) == 1
    np.testing.assert_allclose(first[0][:1], again[0], atol=1e-6)
    text.frozen_encoder.cache_clear()
