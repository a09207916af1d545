"""Video files to features: face geometry, the soundtrack through `extract audio`'s own
features, transcripts or recognised speech; bad videos refused in one line; the loop from a
folder of clips to a trained run that predicts a video."""

import csv
import json
import sys
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.errors import UserError
from mmcl.features import face
from mmcl.features.audio import AudioParams, wav_features
from mmcl.features.speech import word_error_rate
from mmcl.features.video import VideoParams, _check_video_stream, read_clip

sys.path.insert(0, str(Path(__file__).parents[1] / "media"))
from clips import TRANSCRIPT, portrait, write_clip  # noqa: E402

runner = CliRunner()


def _ok(args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r


@pytest.fixture(scope="module")
def mesh():
    return face.FaceMesh()


def _rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))  # a proper rotation


def test_geometry_ignores_position_scale_and_head_pose(mesh):
    frame = np.zeros((300, 300, 3), np.uint8)
    img = portrait(280)
    frame[10:290, : img.shape[1]] = img[:, :300]
    points = mesh.landmarks(frame, mesh.detect(frame))
    base = face.geometry(points)
    rng = np.random.default_rng(0)
    for _ in range(5):
        moved = points @ _rotation(rng).T * rng.uniform(0.3, 3) + rng.normal(size=3) * 100
        again = face.geometry(moved)
        # pose changes; the expression measures and head-frame landmarks do not
        np.testing.assert_allclose(again[4:], base[4:], atol=1e-4)
    assert base[0] == 1 and base.shape == (face.DIM,) and len(face.FEATURE_NAMES) == face.DIM


def test_a_face_is_found_in_the_portrait_and_none_in_noise(mesh):
    frame = np.full((240, 320, 3), 128, np.uint8)
    img = portrait(220)
    frame[20:, 60 : 60 + img.shape[1]] = img
    found = mesh.features(frame)
    assert found[0] == 1 and abs(found[3]) < 0.2  # an upright face: little roll
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    assert not mesh.features(noise).any()


def test_extract_video_tables_masks_sources_and_cache(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    write_clip(clips / "a.mp4", seconds=3.0, blank=(1.0, 2.0))
    write_clip(clips / "b.mp4", seconds=2.0)
    listing = tmp_path / "videos.csv"
    listing.write_text(f"id,path,transcript\na,clips/a.mp4,\nb,clips/b.mp4,{TRANSCRIPT}\n")
    out = tmp_path / "feat"
    r = _ok(["extract", "video", "--videos", listing, "--out", out])
    assert "for 2 videos" in r.output and "from speech recognition 1" in r.output
    vision = np.load(out / "vision" / "features.npy")
    present, lengths = np.load(out / "vision" / "face.npy"), np.load(out / "vision" / "lengths.npy")
    assert vision.shape == (2, 30, face.DIM) and lengths.tolist() == [30, 20]
    # 10 fps: frames 10-19 of clip a fall in its blank second, every other one shows the face
    assert not present[0, 10:20].any() and present[0, :10].all() and present[0, 20:].all()
    assert present[1, :20].all() and not vision[0, 10:20].any()
    meta = json.loads((out / "manifest.json").read_text())
    assert meta["counts"]["face_frames"] == 40 and meta["counts"]["sampled_frames"] == 50
    with open(out / "transcripts.csv", newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert rows["b"]["source"] == "transcript" and rows["b"]["text"] == TRANSCRIPT
    assert rows["a"]["source"] == "speech-recognition"
    assert word_error_rate(TRANSCRIPT, rows["a"]["text"]) < 0.9  # recognised, if roughly
    # the soundtrack's features are exactly `extract audio`'s on the same samples
    clip = read_clip(clips / "b.mp4", VideoParams(), None, True, "b")
    sf.write(tmp_path / "b.wav", clip.sound.T, clip.rate, subtype="FLOAT")
    expected = wav_features(tmp_path / "b.wav", AudioParams())
    audio = np.load(out / "audio" / "features.npy")[1]
    np.testing.assert_allclose(audio[: len(expected)], expected, rtol=1e-5, atol=1e-5)
    assert json.loads((out / "text" / "manifest.json").read_text())["kind"] == "text-features"
    r = _ok(["extract", "video", "--videos", listing, "--out", out])
    assert "already extracted" in r.output


def test_frames_are_sampled_by_their_timestamps(tmp_path, mesh):
    import av

    path = tmp_path / "vfr.mkv"
    times_ms = [0, 40, 80, 400, 440, 1000, 1040]  # a variable frame rate
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        for t in times_ms:
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        out.mux(stream.encode(None))
    clip = read_clip(path, VideoParams(fps=10), mesh, False, "vfr")
    # due at 0, 0.1, 0.5, 1.1 s: the frames at 0, 0.4 and 1.0 s are taken
    assert clip.frames_seen == 7 and len(clip.vision) == 3


def test_decoding_stops_once_the_frames_it_needs_are_read(tmp_path, mesh):
    clip = write_clip(tmp_path / "c.mp4", seconds=3.0, sound=False)
    read = read_clip(clip, VideoParams(fps=10, max_frames=5), mesh, False, "c")
    # five samples (0.5 s) of a 3 s video: a stop of ours, not a truncated file
    assert len(read.vision) == 5 and not read.read_all and read.last_time < 1.0


def test_a_zero_frame_rate_is_refused():
    stream = SimpleNamespace(
        codec_context=SimpleNamespace(width=64, height=64), average_rate=None, guessed_rate=0
    )
    budget = SimpleNamespace(charge=lambda *a: None)
    with pytest.raises(UserError, match="zero or unknown frame rate"):
        _check_video_stream(stream, budget, "clip.mp4")


def _bad_video(tmp_path, kind):
    path = tmp_path / "in" / ("bad.mkv" if kind.endswith("mkv") else "bad.mp4")
    path.parent.mkdir()
    if kind == "not a video":
        path.write_text("just some text\n")
    elif kind == "playlist":  # an HLS playlist naming another file
        write_clip(tmp_path / "other.mp4", seconds=1.0)
        path.write_text(f"#EXTM3U\n#EXTINF:1,\n{tmp_path / 'other.mp4'}\n#EXT-X-ENDLIST\n")
    elif kind == "concat":  # an FFmpeg concat list naming another file
        write_clip(tmp_path / "other.mp4", seconds=1.0)
        path.write_text(f"ffconcat version 1.0\nfile '{tmp_path / 'other.mp4'}'\n")
    elif kind == "no audio":
        write_clip(path, seconds=1.0, sound=False)
    elif kind == "no video":
        write_clip(path, seconds=1.0, video=False)
    elif kind.startswith("truncated"):  # MP4 keeps its index last, Matroska first
        whole = write_clip(tmp_path / f"whole{path.suffix}", seconds=4.0)
        path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    else:  # too long or too large: limits
        write_clip(path, seconds=2.0 if kind == "long" else 0.4, size=(1920, 1080))
    return path


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("not a video", [], "not a video file FFmpeg can read"),
        ("playlist", [], "not a video file FFmpeg can read"),
        ("concat", [], "not a video file FFmpeg can read"),
        ("no audio", [], "has no audio stream"),
        ("no video", [], "has no video stream"),
        ("truncated", [], "corrupt or truncated"),
        ("truncated mkv", [], "corrupt or truncated: its streams stop at"),
        ("long", ["--max-seconds", "1"], "past the limit of 1 s"),
        ("large", [], "frames of 1920 x 1080 pixels needs"),
    ],
)
def test_a_bad_video_is_one_line_and_nothing_is_written(tmp_path, kind, options, message):
    path = _bad_video(tmp_path, kind)
    listing = tmp_path / "videos.csv"
    listing.write_text(f"id,path\nbad,{path}\n")
    out = tmp_path / "out"
    budget = ["--memory-budget", "0.01"] if kind == "large" else []
    r = runner.invoke(
        app, [*budget, "extract", "video", "--videos", str(listing), "--out", str(out), *options]
    )
    assert r.exit_code == 2, r.output + repr(r.exception)
    assert message in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_folder_of_clips_to_a_trained_run_that_predicts_a_video(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clips = tmp_path / "clips"
    clips.mkdir()
    good, bad = "I loved it, wonderful and happy", "I hated it, boring and awful"
    rows, listing = [], [("id", "path", "transcript")]
    for i in range(8):
        positive = i % 2 == 0
        write_clip(clips / f"c{i}.mp4", seconds=1.0, face=positive)
        split = "train" if i < 4 else "valid" if i < 6 else "test"
        rows.append(f"c{i},{2.0 if positive else -2.0},{split}")
        listing.append((f"c{i}", f"clips/c{i}.mp4", good if positive else bad))
    with open(tmp_path / "videos.csv", "w", newline="") as f:
        csv.writer(f).writerows(listing)
    (tmp_path / "labels.csv").write_text("id,label,split\n" + "\n".join(rows) + "\n")
    feat = tmp_path / "feat"
    _ok(["extract", "video", "--videos", tmp_path / "videos.csv", "--out", feat])
    tables = [f"{m}={feat / m}" for m in ("text", "audio", "vision")]
    _ok(["data", "assemble", "--labels", tmp_path / "labels.csv", "--out", tmp_path / "ds"]
        + [a for t in tables for a in ("--features", t)])  # fmt: skip
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["extraction"]["vision"]["kind"] == "vision-face"
    train = ["train", "--data", tmp_path / "ds", "--model", "late_fusion", "--epochs", "3"]
    train += ["--set", "train.batch_size=4", "--set", "train.diagnostics=false"]
    _ok([*train, "--out", tmp_path / "run"])
    r = _ok(["predict", tmp_path / "run", "--video", clips / "c0.mp4", "--transcript", good])
    record = json.loads(r.output)
    assert record["id"] == "c0" and record["text"] == good and np.isfinite(record["score"])
    # a CSV of videos (id, path, transcript) predicts into a CSV file
    preds = tmp_path / "preds.csv"
    _ok(["predict", tmp_path / "run", "--in", tmp_path / "videos.csv", "--out", preds])
    with open(preds, newline="") as f:
        written = list(csv.DictReader(f))
    assert [r["id"] for r in written] == [f"c{i}" for i in range(8)]
    assert written[1]["text"] == bad and all(np.isfinite(float(r["score"])) for r in written)
    # a text-only run takes a video too: its transcript, or else its recognised speech
    _ok([*train, "--set", 'modalities=["text"]', "--out", tmp_path / "text_run"])
    r = _ok(["predict", tmp_path / "text_run", "--video", clips / "c1.mp4"])
    record = json.loads(r.output)
    assert record["text"] and np.isfinite(record["score"])
    # a run that needs vision cannot be fed a transcript alone
    r = runner.invoke(app, ["predict", str(tmp_path / "run"), "--text", good])
    assert r.exit_code == 2 and "'vision': 'vision-face'" in r.output
