"""Encoder checkpoints for the miniature, built locally (no network).

* ``make_mfcc_encoder(out)``: the default that *learns* (spec/miniature.md): 13 MFCC + Δ + ΔΔ at
  50 frames/s, written as a directory with ``encoder.json``, addressed like any checkpoint.
* ``make_tiny_hubert(out, seed)``: a random-initialised HF ``HubertModel`` shaped like HuBERT
  Large (pre-LN, layer-norm conv front end, normalised input) but tiny, saved with
  ``save_pretrained`` plus a ``Wav2Vec2FeatureExtractor``; it exercises the real HuBERT path.
  128 conv channels: with the default 512 the conv front end alone is too slow for a miniature.
"""
from __future__ import annotations

import os
from pathlib import Path

from spire.encoders import MFCC_DEFAULTS, write_mfcc_encoder
from spire.io import atomic_path

TINY_HUBERT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                   conv_dim=(128,) * 7, num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=4)


def tiny_hubert_config(**overrides):
    from transformers import HubertConfig

    return HubertConfig(**{**TINY_HUBERT, "feat_extract_norm": "layer", "do_stable_layer_norm": True,
                           "conv_bias": True, **overrides})


def make_tiny_hubert(out_dir: str | os.PathLike, seed: int = 0, **overrides) -> Path:
    import torch
    from transformers import HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(seed)
    model = HubertModel(tiny_hubert_config(**overrides)).eval()
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                 do_normalize=True, return_attention_mask=True).save_pretrained(tmp)
    return Path(out_dir)


def make_mfcc_encoder(out_dir: str | os.PathLike, n_mfcc: int = MFCC_DEFAULTS["n_mfcc"],
                      deltas: int = MFCC_DEFAULTS["deltas"]) -> Path:
    with atomic_path(out_dir) as tmp:
        write_mfcc_encoder(tmp, n_mfcc=n_mfcc, deltas=deltas)
    return Path(out_dir)
