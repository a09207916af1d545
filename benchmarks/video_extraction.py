"""How fast and how well `mmcl extract video` works on this machine, on the test media.

    .venv/bin/python benchmarks/video_extraction.py [--clips 4] [--seconds 10] [--json]

- the vision extractor (face detection, mesh and geometry) in frames/s, on frames of the
  test clip at 640 x 360 and at 1280 x 720;
- the whole extraction's real-time factor (seconds of work per second of video, at the
  default 10 fps), with transcripts given and with speech recognised, once the models are
  loaded (the first call, which loads them, is timed apart on a one-second clip); below 1
  is faster than real time;
- speech recognition alone: its real-time factor and word error rate on the committed
  speech (tests/media/speech.wav, eSpeak NG, against speech.txt);
- the face rate on the test media: the share of frames showing the portrait where a face
  was found, and of grey or noise frames where one was (wrongly) found.

Run it alone on the machine: these are timings. Single-threaded models (LiteRT with one
thread, PocketSphinx), so the figures are per core.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "media"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from clips import SPEECH, TRANSCRIPT, write_clip  # noqa: E402

from mmcl.features import face  # noqa: E402
from mmcl.features.speech import transcribe, word_error_rate  # noqa: E402
from mmcl.features.video import VideoParams, extract_video, read_clip  # noqa: E402
from mmcl.progress import silenced  # noqa: E402


def frames_of(path: Path, count: int) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        frames = itertools.islice(c.decode(video=0), count)
        return [f.to_ndarray(format="rgb24") for f in frames]


def vision_rate(mesh: face.FaceMesh, frames: list[np.ndarray]) -> float:
    mesh.features(frames[0])  # warm-up
    start = time.perf_counter()
    for f in frames:
        mesh.features(f)
    return len(frames) / (time.perf_counter() - start)


def extraction_seconds(listing: Path, out: Path) -> float:
    start = time.perf_counter()
    with silenced():
        extract_video(listing, out, overwrite=True)
    return time.perf_counter() - start


def face_rates(mesh: face.FaceMesh, folder: Path) -> dict[str, float]:
    """Share of frames with the portrait where a face was found, and of frames without
    one (grey during the blank second, or noise) where one was."""
    shown = write_clip(folder / "shown.mp4", seconds=6.0, size=(640, 360), blank=(2.0, 4.0))
    noise = write_clip(folder / "noise.mp4", seconds=2.0, size=(640, 360), face=False)
    clip = read_clip(shown, VideoParams(), mesh, False, "shown")
    times = np.arange(len(clip.vision)) / VideoParams().fps
    blank = (times >= 2.0) & (times < 4.0)
    found = clip.vision[:, 0] > 0
    noisy = read_clip(noise, VideoParams(), mesh, False, "noise").vision[:, 0] > 0
    return {
        "face_frames": int((~blank).sum()),
        "found_in_face_frames": float(found[~blank].mean()),
        "empty_frames": int(blank.sum() + len(noisy)),
        "found_in_empty_frames": float(np.concatenate([found[blank], noisy]).mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = ap.parse_args()
    mesh = face.FaceMesh()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = folder / "clips"
        clips.mkdir()
        for i in range(args.clips):
            write_clip(clips / f"c{i}.mp4", seconds=args.seconds, size=(640, 360))
        frames = frames_of(clips / "c0.mp4", 100)
        from PIL import Image

        wide = [np.asarray(Image.fromarray(f).resize((1280, 720))) for f in frames]
        total = args.clips * args.seconds
        given, heard = folder / "given.csv", folder / "heard.csv"
        rows = [f"c{i},clips/c{i}.mp4" for i in range(args.clips)]
        given.write_text("id,path,transcript\n" + "".join(f"{r},{TRANSCRIPT}\n" for r in rows))
        heard.write_text("id,path\n" + "".join(f"{r}\n" for r in rows))
        # the first extraction loads the models (the text encoder most): timed on its own
        first = folder / "first.csv"
        write_clip(clips / "short.mp4", seconds=1.0, size=(640, 360))
        first.write_text(f"id,path,transcript\nshort,clips/short.mp4,{TRANSCRIPT}\n")
        startup = extraction_seconds(first, folder / "warm")
        y, sr = sf.read(SPEECH, dtype="float32")
        start = time.perf_counter()
        recognised = transcribe(y, sr)
        asr_rtf = (time.perf_counter() - start) / (len(y) / sr)
        result = {
            "vision_fps_640x360": vision_rate(mesh, frames),
            "vision_fps_1280x720": vision_rate(mesh, wide),
            "clips": args.clips,
            "seconds_each": args.seconds,
            "first_call_seconds_1s_clip": startup,
            "rtf_with_transcripts": extraction_seconds(given, folder / "a") / total,
            "rtf_with_recognition": extraction_seconds(heard, folder / "b") / total,
            "asr_rtf": asr_rtf,
            "asr_reference": TRANSCRIPT,
            "asr_hypothesis": recognised,
            "asr_wer": word_error_rate(TRANSCRIPT, recognised),
            **face_rates(mesh, folder),
        }
    if args.json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        print(f"{k:28s} {v:.3f}" if isinstance(v, float) else f"{k:28s} {v}")


if __name__ == "__main__":
    main()
