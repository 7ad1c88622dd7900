"""Audio handling in one place: decode, down-mix, resample to 16 kHz, normalise.

Everything that turns "some audio" into the float32 16 kHz mono waveform an encoder sees goes
through here. Accepted inputs (``AudioLike``): a file path, a ``(array, sampling_rate)`` pair, or a
Hugging Face audio dict (``{"array", "sampling_rate"}`` when decoded, ``{"path", "bytes"}`` when
loaded with ``Audio(decode=False)``).

Unreadable, corrupt or empty audio is not an exception: :func:`load_audio` logs a warning and
returns ``None`` so that the caller writes an empty line in place and a corpus file never shifts
out of line with its dataset.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np
import soundfile as sf
import soxr

from spire.log import get_logger

SAMPLE_RATE = 16000
AudioLike = Union[str, os.PathLike, tuple, dict, np.ndarray]
log = get_logger(__name__)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average channels: soundfile gives (frames, channels); a 1-D array is already mono."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    elif x.ndim != 1:
        raise ValueError(f"audio array must be 1-D or (frames, channels), got shape {x.shape}")
    return x


def resample(x: np.ndarray, sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Resample with soxr (high quality, fast, no first-call cost unlike librosa)."""
    if sr <= 0:
        raise ValueError(f"sampling rate must be positive, got {sr}")
    if sr == target_sr:
        return np.ascontiguousarray(x, dtype=np.float32)
    return soxr.resample(x, sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def normalize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance: exactly what ``Wav2Vec2FeatureExtractor(do_normalize=True)`` does
    (HuBERT Large is trained on normalised input; HuBERT Base is not, its config says which)."""
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm([x], None)[0].astype(np.float32)


def describe(source: Any) -> str:
    """A short name for an audio source, for warnings."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, dict) and source.get("path"):
        return str(source["path"])
    if isinstance(source, tuple):
        return f"<array of {np.shape(source[0])} at {source[1]} Hz>"
    return f"<{type(source).__name__}>"


def _decode(source: AudioLike) -> tuple[np.ndarray, int]:
    if isinstance(source, (str, os.PathLike)):
        data, sr = sf.read(str(source), dtype="float32", always_2d=False)
        return data, sr
    if isinstance(source, tuple):
        if len(source) != 2:
            raise ValueError("an array source must be a pair (array, sampling_rate)")
        return np.asarray(source[0], dtype=np.float32), int(source[1])
    if isinstance(source, dict):
        if source.get("array") is not None:
            if not source.get("sampling_rate"):
                raise ValueError("audio dict has an array but no sampling_rate")
            return np.asarray(source["array"], dtype=np.float32), int(source["sampling_rate"])
        if source.get("bytes"):
            data, sr = sf.read(io.BytesIO(source["bytes"]), dtype="float32", always_2d=False)
            return data, sr
        if source.get("path"):
            return _decode(source["path"])
        raise ValueError("audio dict has none of array, bytes, path")
    if isinstance(source, np.ndarray):
        raise ValueError("a bare array has no sampling rate: pass (array, sampling_rate)")
    raise TypeError(f"unsupported audio source type {type(source).__name__}")


def load_audio(source: AudioLike, target_sr: int = SAMPLE_RATE, name: str | None = None) -> np.ndarray | None:
    """Decode ``source`` to float32 mono at ``target_sr``; ``None`` (with a warning) when the audio
    is missing, unreadable, corrupt, empty or not finite.

    A wrong *type* of source (a bare array without its rate) is a programming error and raises.
    ``name`` names the source in warnings (e.g. the file an array was read from).
    """
    try:
        x, sr = _decode(source)
        x = resample(to_mono(x), sr, target_sr)
    except (TypeError, ValueError) as e:
        if isinstance(source, np.ndarray) or not isinstance(source, (str, os.PathLike, tuple, dict)):
            raise
        log.warning("unreadable audio %s: %s; writing an empty line in its place", (name or describe(source)), e)
        return None
    except (sf.LibsndfileError, RuntimeError, OSError, EOFError) as e:
        log.warning("unreadable audio %s: %s; writing an empty line in its place", (name or describe(source)), e)
        return None
    if x.size == 0:
        log.warning("empty audio %s; writing an empty line in its place", (name or describe(source)))
        return None
    if not np.isfinite(x).all():
        log.warning("audio %s has NaN/inf samples; writing an empty line in its place", (name or describe(source)))
        return None
    return x


def audio_duration(source: AudioLike) -> float | None:
    """Seconds of audio, read from the header when possible (no decoding); ``None`` if unknown."""
    try:
        if isinstance(source, (str, os.PathLike)):
            return sf.info(str(source)).duration
        if isinstance(source, tuple):
            return len(source[0]) / float(source[1])
        if isinstance(source, dict):
            if source.get("array") is not None:
                return len(source["array"]) / float(source["sampling_rate"])
            if source.get("bytes"):
                return sf.info(io.BytesIO(source["bytes"])).duration
            if source.get("path"):
                return sf.info(str(source["path"])).duration
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError, KeyError):
        return None
    return None


def iter_audio_blocks(path: str | os.PathLike, block_seconds: float = 30.0,
                      target_sr: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Stream a (very long) file as consecutive 16 kHz mono blocks of about ``block_seconds``.

    Memory stays bounded by one block: soundfile decodes block by block and soxr's streaming
    resampler carries the filter state across block boundaries, so the concatenation of the blocks
    equals resampling the whole file.
    """
    path = Path(path)
    info = sf.info(str(path))
    stream = None if info.samplerate == target_sr else soxr.ResampleStream(
        info.samplerate, target_sr, 1, dtype="float32", quality="HQ")
    block = max(1, int(block_seconds * info.samplerate))
    pending: list[np.ndarray] = []
    pending_len = 0
    target_len = int(block_seconds * target_sr)
    blocks = sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True)
    for i, data in enumerate(blocks):
        x = data.mean(axis=1)
        last = (i + 1) * block >= info.frames
        y = x if stream is None else stream.resample_chunk(x, last=last)
        pending.append(y)
        pending_len += len(y)
        while pending_len >= target_len:
            buf = np.concatenate(pending)
            yield buf[:target_len]
            pending, pending_len = [buf[target_len:]], len(buf) - target_len
    if pending_len:
        yield np.concatenate(pending)
