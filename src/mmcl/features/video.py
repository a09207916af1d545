"""From video files to the three feature tables: vision (face geometry), audio (the
soundtrack through `extract audio`'s own features) and text (the transcript, or offline
speech recognition, through `extract text`'s own encoder).

Decoding uses PyAV (BSD-3-Clause; its wheels bundle FFmpeg, LGPL), streaming packet by
packet: memory holds one frame and the soundtrack, whatever the video's length. Frames are
sampled at `fps` by their timestamps, so variable frame rates are sampled evenly in time.

    OUT/manifest.json     kind "video-extraction": parameters, counts (frames, frames with a
                          face, texts by source), the content hash
    OUT/transcripts.csv   id, text, source ("transcript" or "speech-recognition")
    OUT/vision/           kind "vision-features": features.npy (N, max_frames, DIM) float32,
                          lengths.npy, pooled.npy (mean and std over the face frames),
                          face.npy (N, max_frames) bool: the frames where a face was found
    OUT/audio/            kind "audio-features", exactly as `mmcl extract audio` writes it
    OUT/text/             kind "text-features", exactly as `mmcl extract text` writes it

Each table is ready for `mmcl data assemble --features vision=OUT/vision ...`. A rerun over
the same videos (by content), transcripts and parameters does nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mmcl.data.io import atomic_folder
from mmcl.errors import UserError
from mmcl.features import face
from mmcl.features.audio import (
    AudioParams,
    audio_params,
    charge_audio,
    pad_frames,
    waveform_features,
    write_table,
)
from mmcl.features.tables import cached_table, read_csv_rows, unique_ids
from mmcl.limits import Budget
from mmcl.progress import progress

KIND = "video-extraction"
VISION_KIND = "vision-features"
EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".flv", ".wmv"}
TRANSCRIPT, RECOGNISED = "transcript", "speech-recognition"
# The demuxers a video may be read with, and only from local files: playlists (HLS, DASH),
# concat lists and image sequences would make FFmpeg open other files or URLs a video names
# (a file we are pointed at may make us read nothing outside itself)
SAFE_INPUT = {
    "format_whitelist": "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpeg,mpegts,flv,asf",
    "protocol_whitelist": "file",
}


@dataclass(frozen=True)
class VideoParams:
    fps: float = 10.0  # vision frames sampled per second of video
    max_frames: int = 500  # vision steps kept per clip (its first max_frames / fps seconds)
    max_seconds: float = 3600.0  # longer videos are refused


@dataclass
class Clip:
    """What one video gives: per sampled frame the face features (None when not asked),
    and the soundtrack as (channels, samples) float32 at `rate` Hz (None when not asked)."""

    vision: np.ndarray | None
    sound: np.ndarray | None
    rate: int
    frames_seen: int = 0
    faces: int = 0
    last_time: float = 0.0  # of the last frame decoded, in seconds
    read_all: bool = True  # False: decoding stopped once the frames it needed were read


@dataclass
class VideoInput:
    id: str
    path: Path
    transcript: str | None = None


def read_clip(
    path: Path, params: VideoParams, mesh: face.FaceMesh | None, sound: bool, where: str
) -> Clip:
    """Decode `path` once: vision features at `params.fps` when `mesh` is given, the
    soundtrack when `sound`. Bad input (not a video, a missing stream, a corrupt or
    truncated container, absurd size, no frame rate) is one UserError naming `where`."""
    import av

    if not Path(path).is_file():
        raise UserError(f"{where}: no such file.")
    try:
        container = av.open(str(path), options=SAFE_INPUT)
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise UserError(
            f"{where}: not a video file FFmpeg can read, or a corrupt or truncated one ({e})."
        ) from e
    with container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if mesh is not None and video is None:
            raise UserError(f"{where}: the file has no video stream; give a video file.")
        if sound and audio is None:
            raise UserError(
                f"{where}: the file has no audio stream, and its soundtrack is needed (audio "
                "features or speech recognition); give a video with sound or its transcript."
            )
        declared = container.duration / 1e6 if container.duration else None  # AV_TIME_BASE
        if declared is not None and declared > params.max_seconds:
            raise UserError(
                f"{where}: {declared:.0f} s long, past the limit of {params.max_seconds:.0f} s; "
                "cut it, or raise the limit (--max-seconds)."
            )
        budget = Budget(path, where)  # a frame and the soundtrack, charged before decoding
        if mesh is not None:
            _check_video_stream(video, budget, where)
        rate = int(audio.rate or audio.codec_context.sample_rate or 0) if sound else 0
        if sound and rate <= 0:
            raise UserError(f"{where}: the audio stream declares no sample rate.")
        if sound and declared is not None:  # else charged as it is decoded
            channels = audio.codec_context.channels
            charge_audio(budget, int(declared * rate), channels, rate, "soundtrack")
        clip = Clip(None, None, rate)
        try:
            _decode(container, video if mesh is not None else None, audio if sound else None,
                    params, mesh, clip, where, None if declared else budget)  # fmt: skip
        except av.FFmpegError as e:
            raise UserError(f"{where}: the container is corrupt or truncated ({e}).") from e
    if clip.read_all and declared and clip.last_time < min(0.8 * declared, declared - 1.0):
        raise UserError(
            f"{where}: corrupt or truncated: its streams stop at {clip.last_time:.1f} s of the "
            f"{declared:.1f} s it declares."
        )
    if mesh is not None and not clip.frames_seen:
        raise UserError(f"{where}: no video frame could be decoded (corrupt or truncated).")
    if sound and (clip.sound is None or clip.sound.shape[1] == 0):
        raise UserError(f"{where}: no audio could be decoded (corrupt or truncated).")
    return clip


def _check_video_stream(video, budget: Budget, where: str) -> None:  # noqa: ANN001
    w, h = video.codec_context.width, video.codec_context.height
    if not w or not h:
        raise UserError(f"{where}: the video stream declares no frame size; re-encode it.")
    # one decoded frame (YUV 4:2:0), its RGB copy and the detector's letterboxed square
    budget.charge(w * h * 4.5 + 3 * max(w, h) ** 2, f"frames of {w} x {h} pixels")
    rate = video.average_rate or video.guessed_rate
    if rate is None or float(rate) <= 0:
        raise UserError(
            f"{where}: the video stream has a zero or unknown frame rate; re-encode it with a "
            "frame rate (e.g. ffmpeg -i IN -r 30 OUT.mp4)."
        )


def _decode(container, video, audio, params, mesh, clip: Clip, where: str, budget) -> None:  # noqa: ANN001
    """Fill `clip` from one pass over the container's packets; the soundtrack is charged to
    `budget` as it is decoded when one is given (its length was not declared)."""
    import av

    step = 1.0 / params.fps
    next_time, vision, chunks = 0.0, [], []
    resampler = None
    if audio is not None:  # planar float at the stream's own rate and channels, as a WAV reads
        resampler = av.AudioResampler(format="fltp", layout=audio.layout, rate=audio.rate)
    for packet in container.demux([s for s in (video, audio) if s is not None]):
        is_video = packet.stream.type == "video"
        if is_video and len(vision) >= params.max_frames:
            if audio is None:
                clip.read_all = False
                break
            continue  # enough frames: only the soundtrack is still read
        for frame in packet.decode():
            if frame.time is None:
                raise UserError(f"{where}: its frames carry no timestamps; re-encode it.")
            clip.last_time = max(clip.last_time, float(frame.time))
            if clip.last_time > params.max_seconds:
                raise UserError(
                    f"{where}: longer than the limit of {params.max_seconds:.0f} s; cut it, or "
                    "raise the limit (--max-seconds)."
                )
            if not is_video:
                for f in resampler.resample(frame):
                    chunks.append(f.to_ndarray())  # (channels, samples)
                    if budget is not None:
                        samples = chunks[-1].shape[1]
                        charge_audio(budget, samples, len(chunks[-1]), clip.rate, "soundtrack")
                continue
            clip.frames_seen += 1
            if frame.time + 1e-6 < next_time or len(vision) >= params.max_frames:
                continue
            features = mesh.features(frame.to_ndarray(format="rgb24"))
            clip.faces += int(features[0] > 0)
            vision.append(features)
            # the next sample is due at the next multiple of the step: evenly spaced in time
            # whatever the stream's frame rate, constant or variable
            next_time = (np.floor(frame.time / step + 1e-6) + 1) * step
    if resampler is not None:
        chunks += [f.to_ndarray() for f in resampler.resample(None)]
        clip.sound = np.concatenate(chunks, axis=1) if chunks else np.zeros((1, 0), np.float32)
    if video is not None:
        clip.vision = np.stack(vision) if vision else np.zeros((0, face.DIM), np.float32)


# ----------------------------------------------------------------------------- tables


def list_videos(
    videos: Path, text_col: str = "transcript", option: str = "--videos"
) -> list[VideoInput]:
    """The videos of a folder (id = file name without extension), or of a CSV file with
    `id` and `path` columns (paths relative to the CSV's folder) and optionally transcripts."""
    videos = Path(videos)
    if videos.is_dir():
        files = sorted(f for f in videos.iterdir() if f.suffix.lower() in EXTENSIONS)
        if not files:
            raise UserError(
                f"{option} {videos}: no video files ({', '.join(sorted(EXTENSIONS))}) found."
            )
        unique_ids([f.stem for f in files], f"{option} {videos}")
        return [VideoInput(f.stem, f) for f in files]
    rows = read_csv_rows(videos, ["id", "path"], option, "Give columns id and path.")
    if not rows:
        raise UserError(f"{option} {videos}: the file lists no videos.")
    unique_ids([r["id"] for r in rows], f"{option} {videos}")
    base = videos.parent
    return [
        VideoInput(r["id"], base / r["path"], (r.get(text_col) or "").strip() or None) for r in rows
    ]


@dataclass
class VideoTables:
    """What `extract_video` wrote (or found already written)."""

    out: Path
    cached: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        if self.cached:
            return f"{self.out}: already extracted (same videos and parameters); nothing to do"
        c = self.counts
        return (
            f"wrote {self.out}/vision, audio, text for {c['videos']} videos: a face in "
            f"{c['face_frames']} of {c['sampled_frames']} sampled frames; texts from "
            f"transcripts {c[TRANSCRIPT]}, from speech recognition {c[RECOGNISED]}"
        )


def _hash(inputs: list[VideoInput], *parts: object) -> str:
    h = hashlib.sha256(json.dumps([str(p) for p in parts], sort_keys=True).encode())
    for v in inputs:
        if not v.path.is_file():
            raise UserError(f"--videos: {v.path} (id '{v.id}'): no such file.")
        h.update(f"{v.id}\x00{v.transcript}\x01".encode())
        with open(v.path, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def extract_video(
    videos: str | Path,
    out: str | Path,
    params: VideoParams | None = None,
    audio: AudioParams | None = None,
    model: str = "",
    max_len: int = 50,
    text_col: str = "transcript",
    overwrite: bool = False,
) -> VideoTables:
    """Vision, audio and text tables of every video of a folder or CSV file into `out`."""
    from mmcl.features.speech import RECOGNISER, transcribe
    from mmcl.features.text import extract_text

    params, audio = params or VideoParams(), audio or AudioParams()
    inputs, out = list_videos(Path(videos), text_col), Path(out)
    digest = _hash(inputs, asdict(params), asdict(audio), model, max_len, face.DIM)
    if cached_table(out, KIND, digest, overwrite):
        return VideoTables(out, True)
    Budget(None, "vision features", asked=True).charge(
        4 * len(inputs) * params.max_frames * face.DIM,
        f"{len(inputs)} videos x {params.max_frames} frames x {face.DIM} values",
    )
    mesh = face.FaceMesh()
    vision, sounds, texts, sources = [], [], [], []
    counts: Counter = Counter(videos=len(inputs), **{TRANSCRIPT: 0, RECOGNISED: 0})
    for v in progress(inputs, len(inputs), "video features", "video"):
        where = f"--videos: {v.path}"
        clip = read_clip(v.path, params, mesh, True, where)
        if not len(clip.vision):
            raise UserError(f"{where}: no frame at {params.fps} fps; is the video empty?")
        vision.append(clip.vision)
        sounds.append(waveform_features(clip.sound, clip.rate, audio, where))
        texts.append(
            v.transcript if v.transcript is not None else transcribe(clip.sound, clip.rate)
        )
        sources.append(TRANSCRIPT if v.transcript is not None else RECOGNISED)
        counts.update(sampled_frames=len(clip.vision), face_frames=clip.faces)
        counts[sources[-1]] += 1
    ids = [v.id for v in inputs]
    with atomic_folder(out) as tmp:
        _write_vision(tmp / "vision", ids, vision, params, digest)
        (tmp / "audio").mkdir()
        write_table(tmp / "audio", ids, sounds, audio, digest)
        extract_text(texts, ids, tmp / "text", model, max_len)
        with open(tmp / "transcripts.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "text", "source"])
            writer.writerows(zip(ids, texts, sources, strict=True))
        meta = {
            "kind": KIND,
            "video": asdict(params),
            "audio": asdict(audio),
            "text": {"model": model or "minilm", "max_len": max_len},
            "vision_model": face.MODELS,
            "speech_recognition": RECOGNISER,
            "counts": dict(counts),
            "content_hash": digest,
        }
        (tmp / "manifest.json").write_text(json.dumps(meta, indent=2))
    return VideoTables(out, False, dict(counts))


def _write_vision(
    folder: Path, ids: list[str], clips: list[np.ndarray], params: VideoParams, digest: str
) -> None:
    folder.mkdir()
    feats, lengths = pad_frames(clips)
    present = feats[:, :, 0] > 0
    pooled = np.stack([_pool(x) for x in clips])
    np.save(folder / "ids.npy", np.array(ids, dtype=str))
    np.save(folder / "features.npy", feats)
    np.save(folder / "lengths.npy", lengths)
    np.save(folder / "pooled.npy", pooled)
    np.save(folder / "face.npy", present)
    meta = {
        "kind": VISION_KIND,
        **asdict(params),
        "model": face.MODELS,
        "dim": face.DIM,
        "count": len(ids),
        "frames": int(lengths.sum()),
        "face_frames": int(present.sum()),
        "content_hash": digest,
    }
    (folder / "manifest.json").write_text(json.dumps(meta, indent=2))


def _pool(x: np.ndarray) -> np.ndarray:
    """Mean and std over the frames with a face (zeros when there is none)."""
    seen = x[x[:, 0] > 0]
    if not len(seen):
        return np.zeros(2 * face.DIM, dtype=np.float32)
    return np.concatenate([seen.mean(0), seen.std(0)]).astype(np.float32)


def video_inputs(
    inputs: list[VideoInput], need: dict[str, dict], option: str
) -> Iterator[tuple[np.ndarray | None, np.ndarray | None, str | None]]:
    """Per video, what a run needs, made as its data were: (vision (T, DIM), audio frames,
    text), each None when `need` (recorded extractions by kind: "vision-face", "audio",
    "text-transformer") does not name it. The text is the transcript, else recognised."""
    from mmcl.features.speech import transcribe

    seen = need.get("vision-face")
    params = VideoParams(**{k: seen[k] for k in asdict(VideoParams())}) if seen else VideoParams()
    mesh = face.FaceMesh() if seen else None
    audio = audio_params(need["audio"]) if "audio" in need else None
    for v in inputs:
        where = f"{option} {v.path}"
        recognise = "text-transformer" in need and v.transcript is None
        clip = read_clip(v.path, params, mesh, audio is not None or recognise, where)
        sound = None if audio is None else waveform_features(clip.sound, clip.rate, audio, where)
        text = transcribe(clip.sound, clip.rate) if recognise else v.transcript
        yield clip.vision, sound, text if "text-transformer" in need else None
