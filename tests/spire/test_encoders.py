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
