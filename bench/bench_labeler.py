#!/usr/bin/env python
"""Labelling throughput: ``Labeler`` (batched by seconds, torch assignment) vs a per-utterance,
batch-1, fp32 baseline with scikit-learn ``predict``, measured in the same run on the same audio.

Prints seconds of audio per second for both, the speed-up, and checks that the labels agree.
Models are random (built here): the tiny miniature HuBERT and a HuBERT-Large-shaped one
(24 layers × 1024, layer 22, 5000 clusters; only a few utterances: it is slow on a CPU).

``decode``: corpus labelling (``label_corpus``) of a decode-bound corpus -- 48 kHz Ogg Vorbis
files, as Common Voice ships compressed 48 kHz audio -- with the MFCC encoder and the tiny HuBERT,
serial loop (decode, then encode, in one process) vs ``--workers`` DataLoader decode processes;
the two outputs must be byte-identical. ``stats``: what the statistics step costs per hour of
audio, before (every column of the dataset read, audio bytes included, each duration from the
audio header) and after (the durations label_corpus writes; transcripts from the text column).

    OMP_NUM_THREADS=1 python bench/bench_labeler.py [--n-tiny 80] [--n-large 4] [--device cpu]
    OMP_NUM_THREADS=1 python bench/bench_labeler.py --sections decode stats --workers 2
"""
from __future__ import annotations

import argparse
import os
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


def compressed_corpus(src_ds, out: Path, repeat: int, sr: int = 48000) -> Path:
    """The corpus' audio as 48 kHz Ogg Vorbis files (``repeat`` copies of each utterance)."""
    import soundfile as sf
    import soxr

    from spire.audio import load_audio
    from spire.io import write_jsonl

    (out / "ogg").mkdir(parents=True, exist_ok=True)
    rows = []
    for r in src_ds.records():
        x = soxr.resample(load_audio(r.audio), 16000, sr)
        for k in range(repeat):
            name = f"ogg/{r.id}-{k}.ogg"
            sf.write(out / name, x, sr, format="OGG", subtype="VORBIS")
            rows.append({"id": f"{r.id}-{k}", "audio": name, "text": r.text})
    write_jsonl(out / "train.jsonl", rows)
    (out / "train.yaml").write_text("path: train.jsonl\ntext_column: text\nid_column: id\n")
    return out / "train.yaml"


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _busy(n: int = 2_000_000) -> int:
    s = 0
    for i in range(n):
        s += i
    return s


def parallel_headroom() -> float:
    """How much faster two processes run two CPU-bound jobs than one process runs both, now:
    on a shared machine the decode workers cannot beat this."""
    import multiprocessing as mp

    t = time.perf_counter()
    _busy(), _busy()
    serial = time.perf_counter() - t
    t = time.perf_counter()
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(_busy, [2_000_000] * 2)
    return serial / (time.perf_counter() - t)


def bench_decode(data: Path, encoders: list[tuple[str, Path, int]], tmp: Path, workers: int, repeats: int) -> None:
    from sklearn.cluster import KMeans

    from spire.audio import load_audio
    from spire.audio_data import open_audio_dataset
    from spire.dsus import Labeler, label_corpus
    from spire.encoders import load_encoder
    from spire.kmeans import save_kmeans

    ds = open_audio_dataset(data)
    recs = ds.records()
    audio_s = sum(len(load_audio(r.audio)) for r in recs[:50]) / 16000 * len(recs) / min(50, len(recs))
    t = time.perf_counter()
    decoded = sum(len(load_audio(r.audio)) for r in recs[:50]) / 16000
    decode_rate = decoded / (time.perf_counter() - t)
    print(f"\n[decode] {len(recs)} Ogg Vorbis 48 kHz files, about {audio_s:.0f} s of audio; "
          f"decode + resample alone: about {decode_rate:.0f} s audio/s in one process")
    print(f"  control: 2 CPU-bound jobs in 2 processes finish {parallel_headroom():.2f}x as fast as in 1, right now "
          f"(2.0x on an idle 2-core machine; load average {os.getloadavg()[0]:.1f})")
    for name, model_dir, layer in encoders:
        enc = load_encoder(model_dir, layer=layer, device="cpu", dtype="fp32")
        feats = np.concatenate([enc.features([load_audio(r.audio)])[0].numpy() for r in recs[:8]])
        save_kmeans(KMeans(20, n_init=1, random_state=0).fit(feats), tmp / "km_decode.joblib")
        labeler = Labeler(model_dir, tmp / "km_decode.joblib", layer=layer, device="cpu", dtype="fp32")
        times = {0: [], workers: []}
        cpu = {0: [], workers: []}  # (this process, the worker processes) CPU seconds
        for rep in range(repeats):  # alternate, so that load from other processes hits both alike
            for w in (0, workers):
                out = tmp / f"units_{w}.txt"
                c0, k0 = time.process_time(), _children_cpu()
                t = time.perf_counter()
                label_corpus(labeler, ds, range(len(ds)), out, dedup=False, overwrite=True, workers=w)
                times[w].append(time.perf_counter() - t)
                cpu[w].append((time.process_time() - c0, _children_cpu() - k0))
        same = (tmp / "units_0.txt").read_bytes() == (tmp / f"units_{workers}.txt").read_bytes()
        t0, tw = min(times[0]), min(times[workers])
        serial_cpu = min(c for c, _ in cpu[0])
        main_cpu, worker_cpu = min(cpu[workers], key=lambda x: x[0] + x[1])
        # on an idle 2-core machine a run takes at least as long as its busiest process and as its
        # CPU seconds shared by the two cores (the serial loop's CPU seconds are its time there)
        projected = serial_cpu / max(main_cpu, worker_cpu / workers, (main_cpu + worker_cpu) / 2)
        print(f"  {name:12s} serial loop           : {audio_s / t0:8.1f} s audio/s  ({t0:.2f} s, best of {repeats}; "
              f"CPU {serial_cpu:.2f} s)")
        print(f"  {name:12s} {workers} decode workers      : {audio_s / tw:8.1f} s audio/s  ({tw:.2f} s)  "
              f"speed-up {t0 / tw:.2f}x; byte-identical units: {same}")
        print(f"  {name:12s}   CPU: labelling process {main_cpu:.2f} s, workers {worker_cpu:.2f} s in all: "
              f"on 2 idle cores {projected:.2f}x the serial loop (from CPU seconds)")


def bench_stats(data: Path, tmp: Path) -> None:
    """Durations and transcripts for the stats step from an HF dataset with embedded audio bytes."""
    from datasets import Audio, Dataset

    from spire.audio import audio_duration
    from spire.audio_data import open_audio_dataset, text_records
    from spire.dsus import Labeler, label_corpus  # noqa: F401 - same code path as the task
    from spire.io import read_lines, write_lines

    recs = open_audio_dataset(data).records()
    hf = Dataset.from_dict({"audio": [r.audio for r in recs], "text": [r.text for r in recs],
                            "id": [r.id for r in recs]}).cast_column("audio", Audio())
    hf.save_to_disk(str(tmp / "hf"))
    (tmp / "hf.yaml").write_text("path: hf\ntext_column: text\nid_column: id\n")
    ds = open_audio_dataset(tmp / "hf.yaml")
    t = time.perf_counter()
    before = [audio_duration(r.audio) or 0.0 for r in ds.records(0, len(ds))]
    texts_before = [r.text for r in ds.records(0, len(ds))]
    t_before = time.perf_counter() - t
    hours = sum(before) / 3600
    write_lines(tmp / "durations.txt", [f"{d:.4f}" for d in before])  # what label_corpus writes
    t = time.perf_counter()
    after = [float(x) for x in read_lines(tmp / "durations.txt")]
    texts_after = [r.text for r in text_records(ds, 0, len(ds))]
    t_after = time.perf_counter() - t
    assert texts_after == texts_before and np.allclose(after, before, atol=1e-3)
    print(f"\n[stats] {len(ds)} rows, {hours * 60:.1f} min of audio in an HF dataset with audio bytes")
    print(f"  before: all columns + audio headers : {t_before / hours:8.2f} s per hour of audio ({t_before:.2f} s)")
    print(f"  after : durations file + text column: {t_after / hours:8.3f} s per hour of audio ({t_after:.3f} s)"
          f"  {t_before / t_after:.0f}x less; same durations and transcripts")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="+", default=["labeler", "decode", "stats"],
                   choices=["labeler", "decode", "stats"])
    p.add_argument("--workers", type=int, default=2, help="decode workers for the decode section")
    p.add_argument("--n-decode", type=int, default=40, help="utterances for the decode section")
    p.add_argument("--copies", type=int, default=8, help="files per utterance in the decode section")
    p.add_argument("--decode-encoders", nargs="+", default=["mfcc", "hubert"], choices=["mfcc", "hubert"])
    p.add_argument("--repeats", type=int, default=2, help="timed runs of each decode variant (best kept)")
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
        synthesize_corpus(tmp / "corpus", max(a.n_tiny, a.n_large, a.n_decode), 0, 0, seed=1)
        ds = open_audio_dataset(tmp / "corpus" / "train.yaml")
        print(f"torch threads: {torch.get_num_threads()}; CPU only here (no GPU on this machine)"
              if a.device == "cpu" else f"device {a.device}")
        make_tiny_hubert(tmp / "tiny")
        if "decode" in a.sections or "stats" in a.sections:
            from spire.audio_data import DatasetConfig
            from spire.mini.encoders import make_mfcc_encoder

            sub = open_audio_dataset(DatasetConfig(path=str(tmp / "corpus" / "train.jsonl"), text_column="text",
                                                   id_column="id"))
            sub._rows = sub._rows[: a.n_decode]
            data = compressed_corpus(sub, tmp / "ogg_corpus", repeat=a.copies)
            if "decode" in a.sections:
                make_mfcc_encoder(tmp / "mfcc")
                encoders = {"mfcc": ("MFCC", tmp / "mfcc", 0), "hubert": ("tiny HuBERT", tmp / "tiny", 2)}
                bench_decode(data, [encoders[e] for e in a.decode_encoders], tmp, a.workers, a.repeats)
            if "stats" in a.sections:
                bench_stats(data, tmp)
        if "labeler" not in a.sections:
            return
        waves = [load_audio(r.audio) for r in ds.records()]

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
