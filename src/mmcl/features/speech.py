"""Offline English speech recognition for clips without a transcript.

PocketSphinx (CMU, BSD-2-Clause) with the US English acoustic model, dictionary and language
model that its wheel ships: nothing is downloaded. It is small and fast rather than
accurate (docs/video.md gives the word error rate measured on the committed speech); a
user with transcripts should give them (`transcript` column, `--transcript`).
"""

from __future__ import annotations

import functools

import numpy as np

from mmcl.errors import UserError

SAMPLE_RATE = 16000
RECOGNISER = "pocketsphinx en-us (bundled)"


@functools.lru_cache(maxsize=1)
def _decoder():  # noqa: ANN202 (pocketsphinx's type)
    try:
        from pocketsphinx import Decoder
    except ImportError as e:
        raise UserError(
            "speech recognition needs pocketsphinx: pip install pocketsphinx (or give transcripts)"
        ) from e
    return Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")


def to_pcm16(y: np.ndarray, sr: int) -> np.ndarray:
    """Mono 16 kHz int16 samples of a waveform (samples,) or (channels, samples)."""
    import librosa

    if y.ndim > 1:
        y = y.mean(axis=0)
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
    return (np.clip(y, -1.0, 1.0) * 32767).astype("<i2")


def transcribe(y: np.ndarray, sr: int) -> str:
    """The recogniser's best word sequence for a waveform, lower case ('' for silence)."""
    decoder = _decoder()
    decoder.start_utt()
    decoder.process_raw(to_pcm16(y, sr).tobytes(), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr.strip() if hyp is not None else ""


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance / reference length, case and punctuation ignored."""

    def words(s: str) -> list[str]:
        return "".join(c.lower() if c.isalnum() or c == "'" else " " for c in s).split()

    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(ref), 1)
