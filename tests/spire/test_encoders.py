"""Encoder loading: MFCC directories, HF hubert/wav2vec2 truncation, batching equivalence."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spire.encoders import MFCCEncoder, load_encoder


def speechy(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    f = 200 + 150 * np.sin(2 * np.pi * 1.5 * t)
    return (0.3 * np.sin(2 * np.pi * np.cumsum(f) / 16000) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_mfcc_shape_rate_and_determinism(mfcc_encoder):
    enc = load_encoder(mfcc_encoder, layer=22)  # layer is irrelevant for MFCC
    assert isinstance(enc, MFCCEncoder) and enc.dim == 39 and enc.frame_rate == 50
    a, b = enc.features([speechy(2.0), speechy(0.01)])
    assert a.shape == (101, 39) and b.shape[1] == 39 and len(b) >= 1
    assert torch.isfinite(a).all()
    assert torch.allclose(a.mean(0), torch.zeros(39), atol=1e-4)  # per-utterance CMVN
    assert torch.equal(enc.features([speechy(2.0)])[0], a)
    # deltas are the regression slope of the cepstra: a linear ramp has a constant delta
    ramp = torch.arange(20, dtype=torch.float32)[:, None].repeat(1, 3)
    from spire.encoders import _deltas
    assert torch.allclose(_deltas(ramp)[2:-2], torch.ones(16, 3))


def test_mfcc_config_errors(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "encoder.json").write_text(json.dumps({"type": "mfcc", "n_mfc": 13}))
    with pytest.raises(ValueError, match="n_mfc"):
        load_encoder(tmp_path / "m")
    (tmp_path / "m" / "encoder.json").write_text(json.dumps({"type": "fbank"}))
    with pytest.raises(ValueError, match="encoder.json.*fbank"):
        load_encoder(tmp_path / "m")


def test_hf_truncation_drops_final_layer_norm(tiny_hubert):
    enc = load_encoder(tiny_hubert, layer=1, device="cpu")
    assert len(enc.model.encoder.layers) == 1
    assert isinstance(enc.model.encoder.layer_norm, torch.nn.Identity)
    assert enc.do_normalize and enc.batchable and enc.dim == 64
    with pytest.raises(ValueError, match="layer 3 is beyond"):
        load_encoder(tiny_hubert, layer=3)


def test_batched_equals_single_and_lengths(tiny_hubert):
    enc = load_encoder(tiny_hubert, layer=2, device="cpu", dtype="fp32")
    waves = [speechy(1.3, 0), speechy(0.4, 1), speechy(2.1, 2)]
    batched = enc.features(waves)
    for w, f in zip(waves, batched):
        single = enc.features([w])[0]
        assert f.shape == single.shape == (enc.output_lengths([len(w)])[0], 64)
        assert (f - single).abs().max() < 1e-4


def test_group_norm_wav2vec2_goes_one_by_one(tmp_path):
    """HuBERT-Base-style (group-norm, post-LN) wav2vec2 dir via AutoModel: padded batches would
    change group-norm statistics, so each utterance is encoded alone and batching changes nothing."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                         feat_extract_norm="group", do_stable_layer_norm=False)
    Wav2Vec2Model(cfg).save_pretrained(tmp_path / "w2v")
    Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=False).save_pretrained(tmp_path / "w2v")
    enc = load_encoder(tmp_path / "w2v", layer=2, device="cpu")
    assert not enc.batchable and not enc.do_normalize
    assert not isinstance(enc.model.encoder.layer_norm, torch.nn.Identity)  # post-LN keeps its input LN
    waves = [speechy(1.0, 0), speechy(0.5, 1)]
    for w, f in zip(waves, enc.features(waves)):
        assert torch.equal(f, enc.features([w])[0])


# ------------------------------------------------------------------ encoders by model type
def pooled_reference(x: np.ndarray, width: int, kind: str) -> np.ndarray:
    """Pooling written independently: one window at a time, trailing partial window dropped."""
    if width == 1:
        return x
    n = len(x) // width
    agg = np.mean if kind == "mean" else np.max
    return np.stack([agg(x[i * width:(i + 1) * width], axis=0) for i in range(n)])


def w2v_bert_reference(model_dir, wave: np.ndarray, layer: int, keep_ln: bool) -> np.ndarray:
    """The full model run on the extractor's features; layer ``layer``'s output read from
    ``hidden_states`` (with its final layer norm) or captured at that norm's input."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertModel

    model = Wav2Vec2BertModel.from_pretrained(model_dir).eval()
    inputs = SeamlessM4TFeatureExtractor.from_pretrained(model_dir)(wave, sampling_rate=16000, return_tensors="pt")
    captured = {}
    hook = model.encoder.layers[layer - 1].final_layer_norm.register_forward_pre_hook(
        lambda m, a: captured.setdefault("h", a[0]))
    with torch.no_grad():
        out = model(inputs["input_features"], output_hidden_states=True)
    hook.remove()
    return (out.hidden_states[layer] if keep_ln else captured["h"])[0].numpy()


def whisper_reference(model_dir, wave: np.ndarray, layer: int, keep_ln: bool) -> np.ndarray:
    from transformers import WhisperFeatureExtractor, WhisperModel

    model = WhisperModel.from_pretrained(model_dir).eval()
    feats = WhisperFeatureExtractor.from_pretrained(model_dir)(wave, sampling_rate=16000,
                                                                 return_tensors="pt").input_features
    captured = {}
    hook = model.encoder.layer_norm.register_forward_pre_hook(lambda m, a: captured.setdefault("h", a[0]))
    with torch.no_grad():
        out = model.encoder(feats, output_hidden_states=True)
        if layer < model.config.encoder_layers:  # hidden_states[layer]: layer `layer`'s output
            h = model.encoder.layer_norm(out.hidden_states[layer]) if keep_ln else out.hidden_states[layer]
        else:  # the last hidden state is after the encoder's final norm; its input is before
            h = out.last_hidden_state if keep_ln else captured["h"]
    hook.remove()
    n_frames = -(-len(wave) // 160)  # log-mel frames of the real audio, two per output frame
    return h[0, : -(-n_frames // 2)].numpy()


@pytest.fixture(scope="module")
def tiny_w2v_bert(tmp_path_factory):
    from spire.mini.encoders import make_tiny_w2v_bert

    return make_tiny_w2v_bert(tmp_path_factory.mktemp("enc") / "w2vbert")


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    from spire.mini.encoders import make_tiny_whisper

    return make_tiny_whisper(tmp_path_factory.mktemp("enc") / "whisper")


@pytest.mark.parametrize("layer,keep_ln,width,kind", [(2, False, 1, "mean"), (3, True, 1, "mean"),
                                                      (1, False, 2, "max"), (3, False, 3, "mean")])
@pytest.mark.parametrize("family", ["w2v_bert", "whisper"])
def test_model_type_features_equal_independent_computation(family, layer, keep_ln, width, kind, request):
    model_dir = request.getfixturevalue(f"tiny_{family}")
    reference = {"w2v_bert": w2v_bert_reference, "whisper": whisper_reference}[family]
    enc = load_encoder(model_dir, layer=layer, device="cpu", dtype="fp32", keep_final_layer_norm=keep_ln,
                       pooling_width=width, pooling_type=kind)
    assert enc.kind == family.replace("_", "-") and enc.num_layers == 3 and enc.dim == 32
    assert enc.frame_rate == 50 / width
    waves = [speechy(1.3, 0), speechy(0.7, 1), speechy(2.05, 2)]
    batched = enc.features(waves)
    for w, f in zip(waves, batched):
        ref = pooled_reference(reference(model_dir, w, layer, keep_ln), width, kind)
        assert f.shape == ref.shape
        np.testing.assert_allclose(f.numpy(), ref, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("family", ["w2v_bert", "whisper"])
def test_model_type_labels_equal_sklearn_on_reference_features(family, request, tmp_path):
    """Labels end to end: Labeler units == scikit-learn predict on independently computed features."""
    from sklearn.cluster import KMeans

    from spire.dsus import Labeler
    from spire.kmeans import save_kmeans

    model_dir = request.getfixturevalue(f"tiny_{family}")
    reference = {"w2v_bert": w2v_bert_reference, "whisper": whisper_reference}[family]
    waves = [speechy(1.1, 3), speechy(0.6, 4)]
    refs = [reference(model_dir, w, 2, False) for w in waves]
    km = KMeans(8, n_init=1, random_state=0).fit(np.concatenate(refs))
    save_kmeans(km, tmp_path / "km.joblib")
    labeler = Labeler(model_dir, tmp_path / "km.joblib", layer=2, device="cpu", dtype="fp32", batch_seconds=10)
    for w, ref in zip(waves, refs):
        assert labeler.units((w, 16000), dedup=False) == km.predict(ref).tolist()


def test_hubert_keep_final_layer_norm_and_pooling(tiny_hubert):
    plain = load_encoder(tiny_hubert, layer=2, device="cpu", dtype="fp32")
    kept = load_encoder(tiny_hubert, layer=2, device="cpu", dtype="fp32", keep_final_layer_norm=True)
    assert not isinstance(kept.model.encoder.layer_norm, torch.nn.Identity)
    w = speechy(1.5)
    raw = plain.features([w])[0]
    ln = kept.model.encoder.layer_norm
    with torch.no_grad():
        assert torch.allclose(kept.features([w])[0], ln(raw.clone()), atol=1e-5)
    pooled = load_encoder(tiny_hubert, layer=2, device="cpu", dtype="fp32", pooling_width=2, pooling_type="max")
    np.testing.assert_allclose(pooled.features([w])[0].numpy(), pooled_reference(raw.numpy(), 2, "max"), atol=1e-5)
    assert pooled.options == {"final_layer_norm": False, "pooling": "max:2"}
    # a very short utterance keeps one (pooled) frame rather than becoming an empty line
    short = load_encoder(tiny_hubert, layer=2, device="cpu", dtype="fp32", pooling_width=50)
    assert short.features([speechy(0.1)])[0].shape == (1, 64)
