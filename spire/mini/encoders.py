"""Encoder checkpoints for the miniature, built locally (no network).

* ``make_mfcc_encoder(out)``: the default that *learns* (docs/miniature.md): 13 MFCC + Δ + ΔΔ at
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


def mfcc_framing(frame_rate: float) -> dict:
    """STFT settings for ``frame_rate`` frames/s, scaled from the 50 Hz default (hop 20 ms,
    window 1.25 hops, FFT size the next power of two)."""
    hop = round(16000 / frame_rate)
    win = round(1.25 * hop)
    return dict(hop_length=hop, win_length=win, n_fft=1 << (win - 1).bit_length())


def mfcc_options(n_mfcc: int = MFCC_DEFAULTS["n_mfcc"], deltas: int = MFCC_DEFAULTS["deltas"],
                 frame_rate: float = 50.0) -> dict:
    """The encoder.json options of the miniature's MFCC front end (the STFT settings only when
    the rate is not the 50 Hz default); the MFCC and the phonetic encoder share them."""
    return {"n_mfcc": n_mfcc, "deltas": deltas, **(mfcc_framing(frame_rate) if frame_rate != 50.0 else {})}


def make_mfcc_encoder(out_dir: str | os.PathLike, n_mfcc: int = MFCC_DEFAULTS["n_mfcc"],
                      deltas: int = MFCC_DEFAULTS["deltas"], frame_rate: float = 50.0) -> Path:
    """An MFCC "checkpoint". The miniature uses 25 frames/s: on a CPU budget the LM learns ASR
    faster from half as many units per second (measured: 90.6% vs 98.1% WER after the same
    number of CPT tokens), as HuBERT's 50 Hz would be for a GPU-sized model."""
    with atomic_path(out_dir) as tmp:
        write_mfcc_encoder(tmp, **mfcc_options(n_mfcc, deltas, frame_rate))
    return Path(out_dir)


def make_tiny_w2v_bert(out_dir: str | os.PathLike, seed: int = 0, **overrides) -> Path:
    """A random-initialised tiny HF ``Wav2Vec2BertModel`` (w2v-BERT 2.0's architecture) with its
    ``SeamlessM4TFeatureExtractor``: exercises the w2v-BERT path without the 600M-parameter model."""
    import torch
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    torch.manual_seed(seed)
    cfg = Wav2Vec2BertConfig(**{"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2,
                                "intermediate_size": 64, "output_hidden_size": 32, "conv_depthwise_kernel_size": 7,
                                "left_max_position_embeddings": 32, "right_max_position_embeddings": 8,
                                "hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0,
                                "feat_proj_dropout": 0.0, "layerdrop": 0.0, **overrides})
    model = Wav2Vec2BertModel(cfg).eval()
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        SeamlessM4TFeatureExtractor().save_pretrained(tmp)
    return Path(out_dir)


def make_tiny_whisper(out_dir: str | os.PathLike, seed: int = 0, **overrides) -> Path:
    """A random-initialised tiny HF ``WhisperModel`` with its ``WhisperFeatureExtractor`` (80 mels)."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(seed)
    cfg = WhisperConfig(**{"d_model": 32, "encoder_layers": 3, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
                           "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 64,
                           "num_mel_bins": 80, "vocab_size": 128, "max_target_positions": 16,
                           "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 1,
                           "suppress_tokens": [], "begin_suppress_tokens": [], **overrides})
    model = WhisperModel(cfg).eval()
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        WhisperFeatureExtractor(feature_size=80).save_pretrained(tmp)
    return Path(out_dir)
