"""The miniature's phonetic encoder: a stand-in for a pre-trained HuBERT's deep layers.

Spire's units are k-means clusters of HuBERT Large's layer 22, whose features are phonetic and
largely speaker-independent: that is what lets a language model read words off them. The
miniature cannot pre-train a HuBERT on a CPU, and its two cheap encoders carry little of this:
a random tiny HuBERT none, MFCCs mostly the voice (80 voices, rates and pitches). So the
phonetic encoder takes the shortcut HuBERT's pre-training cannot take: espeak-ng reports when it
starts each phoneme, and a small MLP learns to name the phoneme of every MFCC frame (with ±3
frames of context) from sentences of the world's grammar that no split uses -- other speech, as
HuBERT was trained on other speech than Spire's corpora. Its posteriors cluster into units close
to phonemes.

Measured on the demo's world (3,000 training and 200 test utterances; units deduplicated), a
bag-of-unit-n-grams probe of which words an utterance contains (TF-IDF of 1-3-grams, logistic
regression per word): micro-F1 0.388 for MFCC with 1,000 clusters (the previous default),
0.735 for this encoder's posteriors with 64 clusters (28 units an utterance against 47), 0.511 for
its 64-d bottleneck with 1,000 clusters. docs/miniature.md has the whole comparison.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from spire.encoders import (MFCC_CONFIG, PHONETIC_WEIGHTS, MFCCEncoder, phonetic_network,
                            stack_context)
from spire.io import atomic_path, write_json
from spire.log import get_logger
from spire.mini.encoders import mfcc_options
from spire.mini.speech import synthesize_aligned_corpus

log = get_logger(__name__)
PAUSE = "_"  # espeak-ng's mnemonic of a short pause; frames before the first phoneme get it too


def frame_labels(phonemes: Sequence[tuple[float, str]], n_frames: int, frame_rate: float,
                 index: dict[str, int]) -> np.ndarray:
    """The phoneme sounding at each frame's centre (frame ``t`` is centred at ``t / frame_rate``
    seconds, as the MFCC front end's centred STFT frames are): the last one started by then."""
    starts = np.array([t for t, _ in phonemes], dtype=np.float64)
    ids = np.array([index[p] for _, p in phonemes] or [index[PAUSE]], dtype=np.int64)
    centres = np.arange(n_frames) / frame_rate
    last = np.searchsorted(starts, centres, side="right") - 1
    return np.where(last >= 0, ids[np.clip(last, 0, None)], index[PAUSE])


def make_phonetic_encoder(out_dir: str | os.PathLike, texts: list[str], seed: int = 0,
                          frame_rate: float = 25.0, context: int = 3,
                          hidden_sizes: Sequence[int] = (256, 256, 64), epochs: int = 8,
                          batch_size: int = 512, lr: float = 1e-3, jobs: int | None = None) -> dict:
    """Speak ``texts``, train the frame classifier, write the encoder directory atomically.
    Returns its summary (phonemes, frames, held-out frame accuracy).

    A world-building step of fixed, small size: the speech and its stacked frames stay in memory
    (3,000 sentences: about 0.4 GB of audio and 0.2 GB of features)."""
    from safetensors.torch import save_file
    from tqdm import tqdm

    if len(texts) < 20:
        raise ValueError(f"the phonetic encoder needs at least 20 sentences to learn from, got {len(texts)}")
    torch.manual_seed(seed)
    spoken = synthesize_aligned_corpus(texts, seed=seed, jobs=jobs)
    phones = sorted({p for _, timings in spoken for _, p in timings} | {PAUSE})
    index = {p: i for i, p in enumerate(phones)}
    front_end = mfcc_options(frame_rate=frame_rate)
    mfcc = MFCCEncoder({"type": "mfcc", **front_end}, torch.device("cpu"), torch.float32)
    xs, ys = [], []
    for (wave, timings), feats in zip(spoken, mfcc.features([w for w, _ in spoken])):
        xs.append(stack_context(feats, context))
        ys.append(torch.from_numpy(frame_labels(timings, feats.shape[0], mfcc.frame_rate, index)))
    # held-out utterances (every 20th) measure what the classifier learned, not what it memorised
    held = set(range(0, len(xs), 20))
    x_tr = torch.cat([x for i, x in enumerate(xs) if i not in held])
    y_tr = torch.cat([y for i, y in enumerate(ys) if i not in held])
    x_va = torch.cat([xs[i] for i in sorted(held)])
    y_va = torch.cat([ys[i] for i in sorted(held)])
    net = phonetic_network(x_tr.shape[1], hidden_sizes, len(phones))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    accuracy = 0.0
    bar = tqdm(range(epochs), desc="phonetic encoder", unit="epoch")
    for _ in bar:
        net.train()
        for b in torch.randperm(len(x_tr)).split(batch_size):
            loss = torch.nn.functional.cross_entropy(net(x_tr[b]), y_tr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            accuracy = (net(x_va).argmax(-1) == y_va).float().mean().item()
        bar.set_postfix(loss=f"{loss.item():.3f}", held_out_accuracy=f"{accuracy:.3f}")
    summary = {"sentences": len(texts), "phonemes": len(phones), "train_frames": len(x_tr),
               "held_out_frames": len(x_va), "held_out_frame_accuracy": round(accuracy, 4),
               "frame_rate": mfcc.frame_rate}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp / PHONETIC_WEIGHTS))
        write_json(tmp / MFCC_CONFIG, {"type": "phonetic", "mfcc": front_end, "context": context,
                                       "hidden_sizes": list(hidden_sizes), "phones": phones,
                                       "trained": summary})
    log.info("phonetic encoder: %d phonemes, held-out frame accuracy %.4f over %d frames",
             len(phones), summary["held_out_frame_accuracy"], len(x_va))
    return summary


def encoder_sentences(n: int, seed: int, exclude: Sequence[str]) -> list[str]:
    """``n`` sentences of the world's grammar for the encoder to learn from, none of ``exclude``
    (the corpus's train, dev and test transcripts): other speech than the recipe's."""
    from spire.mini.grammar import sentences

    return sentences(n, seed=seed + 7919, exclude=set(exclude))
