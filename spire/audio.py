"""Audio handling in one place: decode, down-mix, resample to 16 kHz, normalise.

Everything that turns "some audio" into the float32 16 kHz mono waveform an encoder sees goes
through here. Accepted inputs (``AudioLike``): a file path, a ``(array, sampling_rate)`` pair, or a
Hugging Face audio dict (``{"array", "sampling_rate"}`` when decoded, ``{"path", "bytes"}`` when
loaded with ``Audio(decode=False)``).

Unusable audio (unreadable, truncated, empty, not finite) raises :class:`AudioError` from
:func:`read_audio`, one line naming the source and what is wrong with it. :func:`load_audio` turns
that into a warning and ``None`` so that the caller writes an empty line in place and a corpus file
never shifts out of line with its dataset (the labelling task then fails above a share of such
lines, ``--max-unreadable``).

A file whose header promises more audio than it holds (a truncated copy, an interrupted download)
is unusable, not short: decoding the part that is there would label and transcribe a fragment as
if it were the utterance. libsndfile reports the disagreement itself (its open log says
``data : 64000 (should be 2004)`` for a cut WAV; a cut FLAC decodes fewer frames than its
header's count, or fails), and :func:`check_complete` reads that report.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np
import soundfile as sf
import soxr

from spire.log import get_logger

SAMPLE_RATE = 16000
AudioLike = Union[str, os.PathLike, tuple, dict, np.ndarray]
log = get_logger(__name__)
# WAV writers that stream to a pipe cannot know the data size and leave a placeholder: not truncation
_UNKNOWN_DATA_SIZES = (0, 0x7FFFFFFF, 0xFFFFFFFF)
_DATA_SHOULD_BE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
_BLOCK_ALIGN = re.compile(r"Block Align\s*:\s*(\d+)")


class AudioError(ValueError):
    """Audio that cannot be used (unreadable, truncated, empty, not finite); the message names
    the source and says what is wrong, on one line."""


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


def check_complete(f: sf.SoundFile, name: str) -> None:
    """Raise :class:`AudioError` when libsndfile's open log says the header promises more data
    than the file holds (a truncated WAV/AIFF: libsndfile shortens ``frames`` to what is there)."""
    log_text = f.extra_info or ""
    m = _DATA_SHOULD_BE.search(log_text)
    if not m:
        return
    declared, held = int(m[1]), int(m[2])
    if declared <= held or declared in _UNKNOWN_DATA_SIZES:
        return
    align = _BLOCK_ALIGN.search(log_text)
    per_frame = int(align[1]) if align and int(align[1]) > 0 else max(1, f.channels * 2)
    raise AudioError(f"{name}: truncated or corrupt audio: its header says {declared} data bytes "
                     f"({declared / per_frame / f.samplerate:.2f} s) but the file holds {held} "
                     f"({f.frames / f.samplerate:.2f} s); copy or download the file again")


def read_checked(f: sf.SoundFile, name: str) -> np.ndarray:
    """All samples of an open sound file, after checking that its header and the decoded length
    agree (:class:`AudioError` when they do not)."""
    check_complete(f, name)
    data = f.read(dtype="float32", always_2d=False)
    if f.frames > 0 and len(data) < f.frames:
        raise AudioError(f"{name}: truncated or corrupt audio: its header says {f.frames} frames "
                         f"({f.frames / f.samplerate:.2f} s) but only {len(data)} decode "
                         f"({len(data) / f.samplerate:.2f} s); copy or download the file again")
    return data


def read_sound_file(file, name: str) -> tuple[np.ndarray, int]:
    """All samples of a sound file (a path or a file object) and its rate (:func:`read_checked`)."""
    with sf.SoundFile(file) as f:
        return read_checked(f, name), f.samplerate


def _decode(source: AudioLike, name: str) -> tuple[np.ndarray, int]:
    if isinstance(source, (str, os.PathLike)):
        if os.path.isdir(source):
            raise AudioError(f"{name}: is a directory, not an audio file")
        if not os.path.exists(source):
            raise AudioError(f"{name}: no such file")
        return read_sound_file(str(source), name)
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
            return read_sound_file(io.BytesIO(source["bytes"]), name)
        if source.get("path"):
            return _decode(source["path"], name)
        raise ValueError("audio dict has none of array, bytes, path")
    if isinstance(source, np.ndarray):
        raise ValueError("a bare array has no sampling rate: pass (array, sampling_rate)")
    raise TypeError(f"unsupported audio source type {type(source).__name__}")


def read_audio(source: AudioLike, target_sr: int = SAMPLE_RATE, name: str | None = None) -> np.ndarray:
    """Decode ``source`` to float32 mono at ``target_sr``.

    Raises :class:`AudioError` (one line naming ``name`` or the source) when the audio is missing,
    unreadable, truncated, empty or not finite. A wrong *type* of source (a bare array without its
    rate) is a programming error and raises ``TypeError``/``ValueError`` as it is.
    """
    if isinstance(source, np.ndarray) or not isinstance(source, (str, os.PathLike, tuple, dict)):
        _decode(source, "")  # raises the programming error
    name = name or describe(source)
    try:
        x, sr = _decode(source, name)
        x = resample(to_mono(x), sr, target_sr)
    except AudioError:
        raise
    except (TypeError, ValueError, sf.LibsndfileError, RuntimeError, OSError, EOFError) as e:
        why = " ".join(str(e).split())  # libsndfile's messages span lines
        raise AudioError(f"{name}: unreadable or corrupt audio ({why}); check that it is a complete sound "
                         "file (WAV, FLAC, OGG, MP3) and copy it again if not") from None
    if x.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples); remove it from the list or record it again")
    if not np.isfinite(x).all():
        raise AudioError(f"{name}: audio has NaN/inf samples; re-encode the file")
    return x


def load_audio(source: AudioLike, target_sr: int = SAMPLE_RATE, name: str | None = None) -> np.ndarray | None:
    """:func:`read_audio`, with unusable audio logged as a warning and given as ``None`` (the
    caller writes an empty line in its place, keeping its output aligned with the dataset)."""
    try:
        return read_audio(source, target_sr, name)
    except AudioError as e:
        log.warning("%s; writing an empty line in its place", e)
        return None


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
    with sf.SoundFile(str(path)) as f:
        check_complete(f, str(path))  # a cut file is unusable, not short (module docstring)
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
