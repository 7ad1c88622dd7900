"""Labeler: units equal a straightforward reference; inputs, formats, alignment, bad input."""
from __future__ import annotations

import logging

import joblib
import numpy as np
import pytest
import soundfile as sf
import torch

from spire.audio_data import open_audio_dataset
from spire.dsus import Labeler
from spire.units import PUA_OFFSET, dedup_units, text_to_units


def reference_units(model_dir, kmeans_path, wav_path, layer):
    """Encoder forward to ``layer`` without the final layer norm, sklearn predict, dedup."""
    from transformers import HubertModel, Wav2Vec2FeatureExtractor

    model = HubertModel.from_pretrained(model_dir).eval()
    fe = Wav2Vec2FeatureExtractor.from_pretrained(model_dir)
    x, sr = sf.read(wav_path, dtype="float32")
    inputs = fe(x, sampling_rate=sr, return_tensors="pt")
    captured = {}
    if layer == model.config.num_hidden_layers:  # the input of the final layer norm
        hook = model.encoder.layer_norm.register_forward_pre_hook(lambda m, a: captured.setdefault("h", a[0]))
    else:  # the output of layer `layer` (hidden_states[layer] is before layer `layer`+1)
        hook = model.encoder.layers[layer].register_forward_pre_hook(lambda m, a: captured.setdefault("h", a[0]))
    with torch.no_grad():
        model(inputs.input_values)
    hook.remove()
    feats = captured["h"][0].numpy()
    return dedup_units(joblib.load(kmeans_path).predict(feats).tolist()), len(feats)


@pytest.mark.parametrize("layer", [1, 2])
def test_labeler_equals_reference(tiny_hubert, hubert_kmeans, mini_corpus, layer):
    ds = open_audio_dataset(mini_corpus / "train.yaml")
    paths = [r.audio for r in ds.records(0, 12)]
    labeler = Labeler(tiny_hubert, hubert_kmeans, layer=layer, dtype="fp32", device="cpu", batch_seconds=20)
    batched = labeler.label_batch(paths)
    for path, line in zip(paths, batched):
        ref, n_frames = reference_units(tiny_hubert, hubert_kmeans, path, layer)
        assert text_to_units(line) == ref
        assert len(labeler.units(path, dedup=False)) == n_frames


def test_input_forms_and_formats(tiny_hubert, hubert_kmeans, mini_corpus):
    labeler = Labeler(tiny_hubert, hubert_kmeans, layer=2, device="cpu", dtype="fp32")
    path = str(mini_corpus / "wavs" / "train" / "train-00003.wav")
    x, sr = sf.read(path, dtype="float32")
    pua = labeler.label(path)
    assert pua and all(PUA_OFFSET <= ord(c) < PUA_OFFSET + 16 for c in pua)
    assert labeler.label((x, sr)) == pua
    assert labeler.label({"array": x, "sampling_rate": sr}) == pua
    assert labeler.label({"path": None, "bytes": open(path, "rb").read()}) == pua
    units = labeler.units(path)
    assert [ord(c) - PUA_OFFSET for c in pua] == units
    assert labeler.label(path, fmt="extra_id") == "".join(f"<extra_id_{u}>" for u in units)
    assert labeler.label(path, fmt="indices") == " ".join(map(str, units))
    raw = labeler.units(path, dedup=False)
    assert dedup_units(raw) == units and len(raw) > len(units)
    assert any(a == b for a, b in zip(raw, raw[1:]))  # undeduplicated keeps repeats


def test_bad_audio_keeps_alignment(tiny_hubert, hubert_kmeans, mini_corpus, tmp_path, caplog):
    labeler = Labeler(tiny_hubert, hubert_kmeans, layer=2, device="cpu", dtype="fp32")
    good = [str(mini_corpus / "wavs" / "train" / f"train-{i:05d}.wav") for i in range(3)]
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with caplog.at_level(logging.WARNING):
        lines = labeler.label_batch([good[0], corrupt, good[1], empty, tmp_path / "missing.wav", good[2]])
    assert [bool(x) for x in lines] == [True, False, True, False, False, True]
    assert lines[::2][:2] + [lines[5]] == [labeler.label(g) for g in good]
    assert "corrupt.wav" in caplog.text and "empty.wav" in caplog.text and "missing.wav" in caplog.text


def test_long_recording_is_chunked(tiny_hubert, hubert_kmeans, mini_corpus, tmp_path):
    """A recording over chunk_seconds is streamed and labelled chunk by chunk."""
    x = np.concatenate([sf.read(mini_corpus / "wavs" / "train" / f"train-{i:05d}.wav", dtype="float32")[0]
                        for i in range(3)])
    path = tmp_path / "long.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    labeler = Labeler(tiny_hubert, hubert_kmeans, layer=2, device="cpu", dtype="fp32", chunk_seconds=1.5)
    step = int(1.5 * 16000)
    expected = []
    for i in range(0, len(x), step):
        expected += labeler.units((x[i:i + step], 16000), dedup=False)
    assert labeler.units(path, dedup=False) == expected
    assert labeler.units((x, 16000), dedup=False) == expected


def test_bf16_runs(tiny_hubert, hubert_kmeans, mini_corpus):
    path = mini_corpus / "wavs" / "train" / "train-00000.wav"
    fp32 = Labeler(tiny_hubert, hubert_kmeans, layer=2, device="cpu", dtype="fp32").units(path, dedup=False)
    bf16 = Labeler(tiny_hubert, hubert_kmeans, layer=2, device="cpu", dtype="bf16").units(path, dedup=False)
    assert len(bf16) == len(fp32)
    assert np.mean(np.array(bf16) == np.array(fp32)) > 0.5


def test_bad_inputs(tiny_hubert, hubert_kmeans, mfcc_kmeans, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.joblib"):
        Labeler(tiny_hubert, tmp_path / "nope.joblib", layer=2)
    not_km = tmp_path / "bad.joblib"
    not_km.write_text("not a pickle")
    with pytest.raises(ValueError, match="bad.joblib"):
        Labeler(tiny_hubert, not_km, layer=2)
    joblib.dump({"centers": 1}, tmp_path / "dict.joblib")
    with pytest.raises(ValueError, match="cluster_centers_"):
        Labeler(tiny_hubert, tmp_path / "dict.joblib", layer=2)
    with pytest.raises(ValueError, match=r"39-dimensional.*64-dimensional"):
        Labeler(tiny_hubert, mfcc_kmeans, layer=2)
    with pytest.raises(ValueError, match=r"layer 22 is beyond the depth.*2 layers"):
        Labeler(tiny_hubert, hubert_kmeans)
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        Labeler(tmp_path / "no_such_dir", hubert_kmeans, layer=2)
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(FileNotFoundError, match="neither config.json"):
        Labeler(tmp_path / "emptydir", hubert_kmeans, layer=2)
    labeler = Labeler(tiny_hubert, hubert_kmeans, layer=2)
    with pytest.raises(ValueError, match="sampling rate"):
        labeler.label(np.zeros(16000, dtype=np.float32))


def real_size_frames(n_frames: int, dim: int = 1024, k: int = 5000, seed: int = 0):
    """HuBERT-Large-width stand-in: a common component with ||c||² ≈ 10³ (as layer-22 centres have),
    5,000 centres and the frames drawn from the same cloud, so that each frame's nearest and next
    centres are close: the situation where bf16 distances go wrong."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(dim, generator=g)
    mean = mean / mean.norm() * 30
    centres = mean + 0.3 * torch.randn(k, dim, generator=g)
    frames = (mean + 0.3 * torch.randn(n_frames, dim, generator=g)).bfloat16()
    exact = torch.cat([((centres.double() ** 2).sum(1) - 2 * x.double() @ centres.double().T).argmin(1)
                       for x in frames.split(1024)])
    return centres, frames, exact


class _Bf16Encoder:
    """The Labeler's view of an encoder (dim, device, dtype, features) giving fixed bf16 frames."""

    def __init__(self, frames):
        self.frames, self.dim, self.device, self.dtype = frames, frames.shape[1], torch.device("cpu"), torch.bfloat16

    def features(self, waves):
        return [self.frames for _ in waves]


def test_bf16_labeler_assigns_the_nearest_centre_at_real_size(tmp_path, monkeypatch):
    """bf16 features of 1,024 dims against 5,000 centres: the unit is the nearest centre of the very
    features the encoder gave on >= 99.9% of frames (bf16 distance arithmetic: under 50%)."""
    from sklearn.cluster import KMeans

    import spire.dsus as dsus
    from spire.kmeans import save_kmeans

    centres, frames, exact = real_size_frames(3000)
    assert 900 < float((centres ** 2).sum(1).mean()) < 1100
    km = KMeans(n_clusters=len(centres))
    km.cluster_centers_ = centres.numpy()
    save_kmeans(km, tmp_path / "km.joblib")
    monkeypatch.setattr(dsus, "load_encoder", lambda *a, **k: _Bf16Encoder(frames))
    labeler = Labeler("encoder", tmp_path / "km.joblib", layer=22, dtype="bf16", device="cpu")
    units = labeler.units((np.zeros(16000, dtype=np.float32), 16000), dedup=False)
    agreement = float(np.mean(np.array(units) == exact.numpy()))
    assert agreement >= 0.999, f"only {agreement:.1%} of frames got their nearest centre"
    assert labeler.describe()["dtype"] == "bfloat16"  # the features' dtype is still what labels depend on
