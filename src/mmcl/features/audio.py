"""Offline frame-level acoustic features per utterance.

Backend `librosa` (default, ISC licence): MFCCs, pitch (F0) and energy, with their deltas.
Backend `opensmile`: the 25 eGeMAPS v02 low-level descriptors (10 ms frames) from the
`opensmile` package; openSMILE is free for research and education only (audEERING's
licence): check it before commercial use.

Per frame (hop `hop_ms`, window 2.5 x hop): 13 MFCCs, log(1 + F0 in Hz) from YIN
(65-400 Hz), log RMS energy, and the deltas of all 15: 30 values. Audio is resampled to
16 kHz mono first. Output folder (a feature table, joinable by id with labels):

    OUT/manifest.json   kind "audio-features", parameters, content hash, count
    OUT/ids.npy         unicode (N,) (the wav file names without extension)
    OUT/features.npy    float32 (N, max_frames, 30), zero padded
    OUT/lengths.npy     int64 (N,)
    OUT/pooled.npy      float32 (N, 60) mean and std over each utterance's frames

A rerun over the same files (by content) and parameters does nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mmcl.data.io import atomic_folder
from mmcl.errors import UserError
from mmcl.features.tables import cached_table
from mmcl.limits import Budget
from mmcl.progress import progress

KIND = "audio-features"
SAMPLE_RATE = 16000
BYTES_PER_SAMPLE = 100


@dataclass(frozen=True)
class AudioParams:
    backend: str = "librosa"  # librosa | opensmile (eGeMAPS LLDs; hop fixed at 10 ms)
    hop_ms: float = 20.0
    n_mfcc: int = 13
    max_frames: int = 500  # longer utterances keep their first max_frames frames
    fmin: float = 65.0
    fmax: float = 400.0


def audio_params(recorded: dict) -> AudioParams:
    """The parameters a feature table or a run's data recorded for their audio."""
    return AudioParams(**{k: recorded[k] for k in asdict(AudioParams())})


def frame_features(y: np.ndarray, sr: int, p: AudioParams) -> np.ndarray:
    """(T, D) features of one waveform: D = 2 * (n_mfcc + 2) for librosa, 25 for opensmile."""
    if p.backend == "opensmile":
        return _egemaps(y, sr)
    if p.backend != "librosa":
        raise UserError(f"--backend must be librosa or opensmile, not '{p.backend}'.")
    import librosa

    if y.ndim > 1:
        y = y.mean(axis=0)
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
    hop = int(SAMPLE_RATE * p.hop_ms / 1000)
    win = int(2.5 * hop)
    n_fft = 1 << (win - 1).bit_length()
    if len(y) < n_fft:  # very short clips: pad so that at least one full window exists
        y = np.pad(y, (0, n_fft - len(y)))
    mfcc = librosa.feature.mfcc(
        y=y, sr=SAMPLE_RATE, n_mfcc=p.n_mfcc, n_fft=n_fft, hop_length=hop, win_length=win
    )
    f0 = librosa.yin(
        y, fmin=p.fmin, fmax=p.fmax, sr=SAMPLE_RATE, frame_length=n_fft, hop_length=hop
    )
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop)[0]
    t = min(mfcc.shape[1], len(f0), len(rms))
    base = np.vstack([mfcc[:, :t], np.log1p(f0[:t])[None], np.log(rms[:t] + 1e-6)[None]])  # (15, T)
    width = min(9, t if t % 2 else t - 1)
    delta = (
        librosa.feature.delta(base, width=width, mode="nearest")
        if width >= 3
        else np.zeros_like(base)
    )
    return np.vstack([base, delta]).T.astype(np.float32)  # (T, 30)


_SMILE = None


def _egemaps(y: np.ndarray, sr: int) -> np.ndarray:
    global _SMILE
    try:
        import opensmile
    except ImportError as e:
        raise UserError(
            "--backend opensmile needs the opensmile package: pip install opensmile"
        ) from e
    if _SMILE is None:  # building the extractor is slow; one per process
        _SMILE = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
        )
    if y.ndim > 1:
        y = y.mean(axis=0)
    return _SMILE.process_signal(y, sr).to_numpy(dtype=np.float32)


def wav_features(path: Path, p: AudioParams, option: str = "--wav-dir") -> np.ndarray:
    """(T, D) features of one WAV file, at most `p.max_frames` frames. A file that cannot be
    read, holds no samples, or gives non-finite features is a UserError naming it."""
    import soundfile as sf

    if not Path(path).is_file():
        raise UserError(f"{option} {path}: not a file; give WAV files.")
    try:
        info = sf.info(str(path))
        charge_audio(
            Budget(path, f"{option} {path}"), info.frames, info.channels, info.samplerate, "audio"
        )
        y, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except (RuntimeError, OSError) as e:  # soundfile's errors for truncated or foreign files
        raise UserError(f"{option} {path}: not a readable WAV file ({e}).") from e
    return waveform_features(y.T if y.ndim > 1 else y, sr, p, f"{option} {path}")


def waveform_features(y: np.ndarray, sr: int, p: AudioParams, where: str) -> np.ndarray:
    """(T, D) features of a waveform (samples,) or (channels, samples), at most
    `p.max_frames` frames: what `extract audio` computes for a WAV file and `extract video`
    for a soundtrack. Empty or non-finite audio is a UserError naming `where`."""
    if y.size == 0:
        raise UserError(f"{where}: the audio holds no samples; remove or re-record it.")
    if not np.isfinite(y).all():
        raise UserError(
            f"{where}: {int((~np.isfinite(y)).sum())} samples are NaN or infinite; "
            "repair or remove the file."
        )
    frames = frame_features(y, sr, p)[: p.max_frames]
    if not np.isfinite(frames).all():  # e.g. float samples far outside [-1, 1]
        raise UserError(
            f"{where}: its features are not finite (largest |sample| "
            f"{float(np.abs(y).max()):.3g}); scale the samples into [-1, 1]."
        )
    return frames


def charge_audio(budget: Budget, frames: int, channels: int, rate: float, what: str) -> None:
    """Charge what extracting `frames` samples per channel at `rate` Hz holds at its peak,
    measured: about 100 bytes per sample at 16 kHz (the resampled signal, its frames,
    spectra and pitch search), besides the decoded samples."""
    resampled = frames / max(rate, 1) * SAMPLE_RATE
    budget.charge(
        4 * frames * max(1, channels) + BYTES_PER_SAMPLE * resampled,
        f"{frames / max(rate, 1):.0f} s of {what} at {rate:g} Hz, resampled to {SAMPLE_RATE}",
    )


def pad_frames(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-utterance (T_i, D) frames -> zero-padded (N, max T_i, D) float32 and lengths (N,)."""
    lengths = np.array([len(x) for x in frames], dtype=np.int64)
    feats = np.zeros((len(frames), int(lengths.max()), frames[0].shape[1]), dtype=np.float32)
    for i, x in enumerate(frames):
        feats[i, : len(x)] = x
    return feats, lengths


def _hash(files: list[Path], p: AudioParams) -> str:
    h = hashlib.sha256(json.dumps(asdict(p), sort_keys=True).encode())
    for f in files:
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def extract_audio(
    wav_dir: str | Path,
    out: str | Path,
    params: AudioParams | None = None,
    overwrite: bool = False,
) -> tuple[Path, bool]:
    """Features of every .wav in `wav_dir` into `out`; returns (out, used_cache)."""
    params = params or AudioParams()
    wav_dir, out = Path(wav_dir), Path(out)
    if not wav_dir.is_dir():
        raise UserError(f"--wav-dir {wav_dir}: not a folder; give the folder of .wav files.")
    files = sorted(f for f in wav_dir.glob("*.wav") if f.is_file())
    if not files:
        raise UserError(f"--wav-dir {wav_dir}: no .wav files found.")
    digest = _hash(files, params)
    if cached_table(out, KIND, digest, overwrite):
        return out, True
    files_bar = progress(files, len(files), "audio features", "file")
    frames = [wav_features(f, params) for f in files_bar]
    with atomic_folder(out) as tmp:
        write_table(tmp, [f.stem for f in files], frames, params, digest)
    return out, False


def write_table(
    folder: Path, ids: list[str], frames: list[np.ndarray], params: AudioParams, digest: str
) -> None:
    """An audio feature table of per-utterance (T_i, D) frames into `folder` (being made)."""
    feats, lengths = pad_frames(frames)
    pooled = np.stack([np.concatenate([x.mean(0), x.std(0)]) for x in frames]).astype(np.float32)
    np.save(folder / "ids.npy", np.array(ids, dtype=str))
    np.save(folder / "features.npy", feats)
    np.save(folder / "lengths.npy", lengths)
    np.save(folder / "pooled.npy", pooled)
    meta = {"kind": KIND, **asdict(params), "dim": feats.shape[2], "count": len(ids)}
    (folder / "manifest.json").write_text(json.dumps({**meta, "content_hash": digest}, indent=2))
