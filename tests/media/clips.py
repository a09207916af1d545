"""Short talking-head clips for the video tests and benchmark, made on the fly: a public
domain portrait (Grace Hopper, U.S. Navy photograph, shipped by matplotlib as sample data)
drifting across a grey frame, with the committed speech (speech.wav, eSpeak NG) as the
soundtrack. Encoded with PyAV's bundled FFmpeg (MPEG-4 Part 2 video, AAC audio)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.cbook
import numpy as np
import soundfile as sf
from PIL import Image

HERE = Path(__file__).parent
SPEECH = HERE / "speech.wav"
TRANSCRIPT = (HERE / "speech.txt").read_text().strip()


def portrait(height: int) -> np.ndarray:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        img = Image.open(f).convert("RGB")
    width = round(img.width * height / img.height)
    return np.asarray(img.resize((width, height), Image.BILINEAR))


def write_clip(
    path: Path,
    seconds: float = 3.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    face: bool = True,
    sound: bool = True,
    video: bool = True,
    blank: tuple[float, float] | None = None,
) -> Path:
    """An MP4 at `path`: the portrait (or, with `face=False`, noise) drifting for `seconds`,
    grey frames during `blank` (start, end) seconds, and the speech looped as its sound."""
    import av

    w, h = size
    face_img = portrait(int(h * 0.9))
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        if video:
            vs = out.add_stream("mpeg4", rate=fps)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if sound:
            y, sr = sf.read(SPEECH, dtype="float32")
            y = np.resize(y, int(seconds * sr))  # looped to the clip's length
            aus = out.add_stream("aac", rate=sr, layout="mono")
        for i in range(int(seconds * fps) if video else 0):
            t = i / fps
            frame = np.full((h, w, 3), 128, np.uint8)
            if blank is None or not blank[0] <= t < blank[1]:
                if face:
                    x = int((w - face_img.shape[1]) * (0.5 + 0.3 * np.sin(t)))
                    x = min(max(x, 0), w - face_img.shape[1])
                    frame[h - face_img.shape[0] :, x : x + face_img.shape[1]] = face_img
                else:
                    frame = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
            for packet in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        if video:
            out.mux(vs.encode(None))
        if sound:
            for start in range(0, len(y), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    y[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate = sr
                for packet in aus.encode(chunk):
                    out.mux(packet)
            out.mux(aus.encode(None))
    return path


if __name__ == "__main__":  # the example video of docs/api.md and docs/video.md
    import sys

    write_clip(Path(sys.argv[1]), seconds=5.5)
