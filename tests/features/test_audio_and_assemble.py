"""Audio extraction on generated WAVs, assembling feature tables with labels, and predicting
from raw text + audio with the run's recorded extraction."""

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.data.loader import load_dataset

runner = CliRunner()
SR = 16000


def _tone(path, freq, seconds=1.0, amp=0.5):
    t = np.arange(int(SR * seconds)) / SR
    sf.write(path, (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)


def _ok(args):
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r


def test_extract_audio_pitch_energy_and_cache(tmp_path):
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    _tone(wavs / "low.wav", 150.0)
    _tone(wavs / "high.wav", 300.0, seconds=0.5, amp=0.1)
    out = tmp_path / "audio"
    _ok(["extract", "audio", "--wav-dir", str(wavs), "--out", str(out)])
    ids = np.load(out / "ids.npy").tolist()
    feats, lengths = np.load(out / "features.npy"), np.load(out / "lengths.npy")
    assert ids == ["high", "low"] and feats.shape[2] == 30
    # 20 ms hop: about 50 frames per second
    assert abs(int(lengths[1]) - 50) <= 3 and abs(int(lengths[0]) - 25) <= 3
    f0 = {i: np.expm1(np.median(feats[k, 5 : lengths[k] - 5, 13])) for k, i in enumerate(ids)}
    assert f0["low"] == pytest.approx(150, rel=0.05) and f0["high"] == pytest.approx(300, rel=0.05)
    energy = {i: np.median(feats[k, : lengths[k], 14]) for k, i in enumerate(ids)}
    assert energy["low"] > energy["high"]  # amplitude 0.5 vs 0.1
    assert not feats[0, lengths[0] :].any()
    assert np.load(out / "pooled.npy").shape == (2, 60)
    r = _ok(["extract", "audio", "--wav-dir", str(wavs), "--out", str(out)])
    assert "cached by content hash" in r.output
    r = runner.invoke(app, ["extract", "audio", "--wav-dir", str(tmp_path), "--out", str(out)])
    assert r.exit_code == 2 and "no .wav files" in r.output


def test_assemble_train_and_predict_from_raw_text_and_audio(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(0)
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    rows = []
    words = {1: "great wonderful fun", -1: "awful boring bad"}
    for i in range(40):
        sign = 1 if i % 2 else -1
        _tone(wavs / f"u{i}.wav", 300.0 if sign > 0 else 120.0, seconds=0.3 + 0.1 * rng.random())
        split = "train" if i < 28 else "valid" if i < 34 else "test"
        rows.append(f"u{i},{words[sign]},{1.5 * sign},{split}")
    (tmp_path / "labels.csv").write_text("id,text,label,split\n" + "\n".join(rows) + "\n")
    _ok(
        [
            "extract",
            "text",
            "--in",
            str(tmp_path / "labels.csv"),
            "--out",
            str(tmp_path / "t"),
            "--max-len",
            "8",
        ]
    )
    _ok(["extract", "audio", "--wav-dir", str(wavs), "--out", str(tmp_path / "a")])
    _ok(
        [
            "data",
            "assemble",
            "--labels",
            str(tmp_path / "labels.csv"),
            "--features",
            f"text={tmp_path / 't'}",
            "--features",
            f"audio={tmp_path / 'a'}",
            "--out",
            str(tmp_path / "ds"),
            "--preset",
            "mosi",
        ]
    )
    ds = load_dataset(tmp_path / "ds")
    assert ds.modalities == ["text", "audio"] and [
        len(ds.splits[s]) for s in ("train", "valid", "test")
    ] == [28, 6, 6]
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["extraction"]["audio"]["kind"] == "audio"
    assert manifest["extraction"]["audio"]["backend"] == "librosa"
    run = tmp_path / "run"
    _ok(
        [
            "train",
            "--data",
            str(tmp_path / "ds"),
            "--model",
            "late_fusion",
            "--epochs",
            "20",
            "--set",
            "train.batch_size=8",
            "--set",
            "train.lr=3e-3",
            "--set",
            "train.diagnostics=false",
            "--out",
            str(run),
        ]
    )
    _tone(tmp_path / "new.wav", 300.0, seconds=0.35)
    r = _ok(
        ["predict", str(run), "--text", "great wonderful fun", "--audio", str(tmp_path / "new.wav")]
    )
    assert json.loads(r.output)["score"] > 0
    r = runner.invoke(app, ["predict", str(run), "--text", "great"])
    assert r.exit_code == 2 and "the input lacks {'audio': 'audio'}" in r.output
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    r = runner.invoke(
        app, ["predict", str(run), "--text", "great", "--audio", str(tmp_path / "bad.wav")]
    )
    assert r.exit_code == 2 and "bad.wav: not a readable WAV file" in r.output, r.output


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (None, "not a readable WAV file"),
        (np.zeros(0, np.float32), "holds no samples"),
        (np.r_[np.zeros(800), np.full(3, np.nan)].astype(np.float32), "3 samples are NaN"),
        (np.full(SR // 2, 1e30, np.float32), "scale the samples into [-1, 1]"),
    ],
    ids=["corrupt", "empty", "nan", "huge"],
)
def test_a_hostile_wav_is_named_and_nothing_is_written(tmp_path, samples, message):
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    _tone(wavs / "fine.wav", 200.0, seconds=0.2)
    if samples is None:
        (wavs / "odd.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    else:
        sf.write(wavs / "odd.wav", samples, SR, subtype="FLOAT")
    out = tmp_path / "audio"
    with np.errstate(all="ignore"):
        r = runner.invoke(app, ["extract", "audio", "--wav-dir", str(wavs), "--out", str(out)])
    assert r.exit_code == 2 and "odd.wav" in r.output and message in r.output, r.output
    assert not out.exists()


def test_assemble_errors_name_the_problem(tmp_path):
    (tmp_path / "labels.csv").write_text("id,label\na,1\n")
    r = runner.invoke(
        app,
        [
            "data",
            "assemble",
            "--labels",
            str(tmp_path / "labels.csv"),
            "--features",
            f"text={tmp_path}",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 2 and "not a feature table" in r.output
    r = runner.invoke(
        app,
        [
            "data",
            "assemble",
            "--labels",
            str(tmp_path / "labels.csv"),
            "--features",
            "text",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 2 and "MODALITY=FOLDER" in r.output


def test_opensmile_egemaps_backend(tmp_path):
    pytest.importorskip(
        "opensmile", reason="opensmile is an optional extra (research licence): mmcl[opensmile]"
    )
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    _tone(wavs / "a.wav", 200.0)
    out = tmp_path / "egemaps"
    _ok(["extract", "audio", "--wav-dir", str(wavs), "--out", str(out), "--backend", "opensmile"])
    feats, lengths = np.load(out / "features.npy"), np.load(out / "lengths.npy")
    assert feats.shape[2] == 25 and 90 <= int(lengths[0]) <= 100  # 10 ms frames over 1 s
    meta = json.loads((out / "manifest.json").read_text())
    assert meta["backend"] == "opensmile"


def test_unknown_audio_backend_and_absent_opensmile_are_clear_errors(tmp_path, monkeypatch):
    import sys

    wavs = tmp_path / "wavs"
    wavs.mkdir()
    _tone(wavs / "a.wav", 200.0)
    out = tmp_path / "feat"
    r = runner.invoke(
        app, ["extract", "audio", "--wav-dir", str(wavs), "--out", str(out), "--backend", "praat"]
    )
    assert r.exit_code == 2 and "--backend must be librosa or opensmile" in r.output
    monkeypatch.setitem(sys.modules, "opensmile", None)  # as if not installed
    r = runner.invoke(
        app,
        ["extract", "audio", "--wav-dir", str(wavs), "--out", str(out), "--backend", "opensmile"],
    )
    assert r.exit_code == 2 and "pip install opensmile" in r.output
