#!/usr/bin/env python
"""Labelling throughput: ``Labeler`` (batched by seconds, torch assignment) vs a per-utterance,
batch-1, fp32 baseline with scikit-learn ``predict``, measured in the same run on the same audio.

Prints seconds of audio per second for both, the speed-up, and checks that the labels agree.
Models are random (built here): the tiny miniature HuBERT and a HuBERT-Large-shaped one
(24 layers × 1024, layer 22, 5000 clusters; only a few utterances: it is slow on a CPU).

    OMP_NUM_THREADS=1 python bench/bench_labeler.py [--n-tiny 80] [--n-large 4] [--device cpu]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def baseline_units(encoder, km, waves) -> list[list[int]]:
    """One utterance at a time, fp32, features to NumPy, scikit-learn nearest centre."""
    return [km.predict(encoder.features([w])[0].float().cpu().numpy()).tolist() for w in waves]


def fit_kmeans(feats: np.ndarray, k: int, seed: int = 0):
    from sklearn.cluster import KMeans

    if len(feats) < k:  # a HuBERT-Large-sized codebook from a few utterances: pad with noise
        rng = np.random.default_rng(seed)
        extra = feats[rng.integers(0, len(feats), k - len(feats))]
        feats = np.concatenate([feats, extra + rng.standard_normal(extra.shape).astype(np.float32) * feats.std()])
    return KMeans(k, init="random", n_init=1, max_iter=3, random_state=seed).fit(feats.astype(np.float32))


def run(name: str, model_dir: Path, layer: int, k: int, waves: list[np.ndarray], tmp: Path, device: str,
        dtype: str, batch_budgets: list[float]) -> None:
    from spire.dsus import Labeler
    from spire.encoders import load_encoder
    from spire.kmeans import save_kmeans

    enc = load_encoder(model_dir, layer=layer, device=device, dtype="fp32")
    feats = np.concatenate([enc.features([w])[0].numpy() for w in waves[:8]])
    km = fit_kmeans(feats, k)
    save_kmeans(km, tmp / f"{name}.joblib")
    audio_s = sum(len(w) for w in waves) / 16000

    baseline_units(enc, km, waves[:2])  # warm-up (allocator, kernels)
    t = time.perf_counter()
    ref = baseline_units(enc, km, waves)
    t_base = time.perf_counter() - t
    print(f"\n[{name}] {len(waves)} utterances, {audio_s:.1f} s of audio, layer {layer}, K={k}, device {device}")
    print(f"  baseline (batch 1, fp32, sklearn predict)  : {audio_s / t_base:8.1f} s audio/s  ({t_base:.2f} s)")
    for budget in batch_budgets:
        labeler = Labeler(model_dir, tmp / f"{name}.joblib", layer=layer, device=device, dtype=dtype,
                          batch_seconds=budget)
        labeler.units_batch([(w, 16000) for w in waves[:2]], dedup=False)  # warm-up
        t = time.perf_counter()
        ours = labeler.units_batch([(w, 16000) for w in waves], dedup=False)
        t_ours = time.perf_counter() - t
        same = np.mean([a == b for r, o in zip(ref, ours) for a, b in zip(r, o)])
        lengths_ok = all(len(r) == len(o) for r, o in zip(ref, ours))
        print(f"  Labeler {dtype}, batch {budget:5.0f} s, torch assign: {audio_s / t_ours:8.1f} s audio/s  "
              f"({t_ours:.2f} s)  speed-up {t_base / t_ours:.2f}x; same frame counts: {lengths_ok}; "
              f"identical labels: {same:.2%}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-tiny", type=int, default=80, help="utterances for the tiny model")
    p.add_argument("--n-large", type=int, default=4, help="utterances for the Large-shaped model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", help="Labeler dtype (fp32 on CPU; bf16 on GPU)")
    p.add_argument("--batch-seconds", type=float, nargs="+", default=[200.0, 0.0],
                   help="Labeler batch budgets to measure (0 = one utterance per forward pass)")
    a = p.parse_args()
    torch.manual_seed(0)
    from spire.audio import load_audio
    from spire.audio_data import open_audio_dataset
    from spire.mini.encoders import make_tiny_hubert, tiny_hubert_config
    from spire.mini.speech import synthesize_corpus

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        synthesize_corpus(tmp / "corpus", max(a.n_tiny, a.n_large), 0, 0, seed=1)
        ds = open_audio_dataset(tmp / "corpus" / "train.yaml")
        waves = [load_audio(r.audio) for r in ds.records()]
        print(f"torch threads: {torch.get_num_threads()}; CPU only here (no GPU on this machine)"
              if a.device == "cpu" else f"device {a.device}")

        make_tiny_hubert(tmp / "tiny")
        run("tiny HuBERT (2 x 64, 128 conv channels)", tmp / "tiny", 2, 150, waves[: a.n_tiny], tmp,
            a.device, a.dtype, a.batch_seconds)

        from transformers import HubertModel, Wav2Vec2FeatureExtractor

        large = HubertModel(tiny_hubert_config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                               intermediate_size=4096, conv_dim=(512,) * 7,
                                               num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16))
        large.save_pretrained(tmp / "large")
        Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(tmp / "large")
        del large
        run("HuBERT-Large-shaped (24 x 1024), layer 22", tmp / "large", 22, 5000, waves[: a.n_large], tmp,
            a.device, a.dtype, a.batch_seconds)


if __name__ == "__main__":
    main()
