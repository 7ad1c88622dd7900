"""spire.audio: decoding, down-mix, resampling, normalisation, bad audio → None, streaming."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from spire.audio import audio_duration, iter_audio_blocks, load_audio, normalize


def tone(sr: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_sources_and_resampling(tmp_path):
    x = tone(22050, 1.0)
    path = tmp_path / "a.wav"
    sf.write(path, np.stack([x, 0.5 * x], axis=1), 22050, subtype="FLOAT")  # stereo 22.05 kHz
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == 16000
    ref = load_audio((0.75 * x, 22050))  # the down-mix is the channel mean
    np.testing.assert_allclose(y, ref, atol=1e-6)
    assert np.abs(y).max() == pytest.approx(0.75 * 0.3, rel=0.02)
    np.testing.assert_allclose(load_audio({"array": 0.75 * x, "sampling_rate": 22050}), ref, atol=1e-6)
    np.testing.assert_allclose(load_audio({"path": "ignored", "bytes": path.read_bytes()}), y, atol=1e-6)
    np.testing.assert_allclose(load_audio({"path": str(path)}), y, atol=1e-6)
    z = load_audio((tone(16000, 0.5), 16000))
    np.testing.assert_array_equal(z, tone(16000, 0.5))  # 16 kHz input passes through untouched
    assert audio_duration(path) == pytest.approx(1.0)
    assert audio_duration({"bytes": path.read_bytes()}) == pytest.approx(1.0)


def test_bad_audio_is_none_with_warning(tmp_path, caplog):
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + bytes(range(200)))
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with caplog.at_level(logging.WARNING):
        assert load_audio(corrupt) is None
        assert load_audio(empty) is None
        assert load_audio(tmp_path / "missing.wav") is None
        assert load_audio({"bytes": b"garbage"}) is None
        assert load_audio((np.array([np.nan, 1.0], dtype=np.float32), 16000)) is None
    for name in ("corrupt.flac", "empty.wav", "missing.wav"):
        assert name in caplog.text
    with pytest.raises(ValueError, match="sampling rate"):
        load_audio(np.zeros(10, dtype=np.float32))  # a programming error, not bad data


def test_normalize_matches_feature_extractor():
    from transformers import Wav2Vec2FeatureExtractor

    x = tone(16000, 0.3) + 0.1
    fe = Wav2Vec2FeatureExtractor(do_normalize=True)
    np.testing.assert_allclose(normalize(x), fe(x, sampling_rate=16000).input_values[0], atol=1e-6)
    assert abs(normalize(x).mean()) < 1e-5


def test_streaming_blocks_equal_whole_file(tmp_path):
    x = np.random.default_rng(0).standard_normal(44100 * 5).astype(np.float32) * 0.1
    path = tmp_path / "long.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    blocks = list(iter_audio_blocks(path, block_seconds=1.3))
    assert all(len(b) == int(1.3 * 16000) for b in blocks[:-1])
    streamed = np.concatenate(blocks)
    whole = load_audio(path)
    assert abs(len(streamed) - len(whole)) <= 2
    n = min(len(streamed), len(whole))
    assert np.abs(streamed[:n] - whole[:n]).max() < 1e-3


def _cut(src, dst, nbytes: int):
    dst.write_bytes(src.read_bytes()[:nbytes])
    return dst


def test_truncated_audio_is_unusable_not_short(tmp_path, caplog):
    """The first 2 KB of a 2 s file is a corrupt file, not a 0.06 s utterance (issue 31, case 7)."""
    from spire.audio import AudioError, read_audio
    from spire.dsus import decode_chunks

    full = tmp_path / "full.wav"
    sf.write(full, tone(16000, 2.0), 16000, subtype="PCM_16")
    cut = _cut(full, tmp_path / "cut.wav", 2048)
    with pytest.raises(AudioError, match=r"cut\.wav: truncated or corrupt audio: its header says 64000 "
                       r"data bytes \(2\.00 s\) but the file holds 2004 \(0\.06 s\)"):
        read_audio(cut)
    with caplog.at_level(logging.WARNING):
        assert load_audio(cut) is None
        assert decode_chunks(cut) is None  # the labelling path (one open for header and samples)
        assert decode_chunks(cut, chunk_seconds=0.01) is None  # and the streaming one
        assert load_audio({"bytes": cut.read_bytes()}) is None
    assert caplog.text.count("truncated or corrupt audio") == 4 and "cut.wav" in caplog.text
    flac = tmp_path / "full.flac"
    sf.write(flac, tone(16000, 2.0), 16000)
    with pytest.raises(AudioError, match=r"cut\.flac: .*corrupt audio"):
        read_audio(_cut(flac, tmp_path / "cut.flac", 2048))
    # a WAV streamed to a pipe has an unknown (all ones) data size: complete, not truncated
    raw = bytearray(full.read_bytes())
    raw[4:8] = raw[40:44] = (0xFFFFFFFF).to_bytes(4, "little")
    (tmp_path / "piped.wav").write_bytes(bytes(raw))
    assert len(read_audio(tmp_path / "piped.wav")) == 32000
    assert len(read_audio(full)) == 32000


def test_empty_audio_and_directories_are_errors_naming_the_file(tmp_path):
    from spire.audio import AudioError, read_audio

    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"empty\.wav: empty audio \(0 samples\)"):
        read_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match=r": is a directory, not an audio file"):
        read_audio(tmp_path)
    with pytest.raises(AudioError, match=r"gone\.wav: no such file"):
        read_audio(tmp_path / "gone.wav")
    with pytest.raises(AudioError, match=r"garbage\.wav: unreadable or corrupt audio \(.*\); check"):
        (tmp_path / "garbage.wav").write_bytes(b"RIFF1234WAVEfmt garbage")
        read_audio(tmp_path / "garbage.wav")
