#!/usr/bin/env python
"""How much of the words a unit sequence carries: a linear word probe on the miniature's units.

From a finished `make demo` (its corpus and its phonetic encoder), each encoder configuration's
features of the 3,000 training and 200 test utterances are clustered (scikit-learn k-means on a
sample of training frames), turned into deduplicated unit sequences as the recipe does, and probed:
TF-IDF of unit 1-3-grams, one logistic regression per word of the grammar, micro-F1 of the words
each test utterance contains. No language model is trained, so the figure measures the units, not
a training budget. The baseline is MFCC at 25 frames/s with 1,000 clusters (the default until Dec
2026); the phonetic encoder's posteriors with 64 clusters are the default since. Both are computed
in the same run.

    python bench/bench_unit_probe.py --demo-out workflows/out      # about 3 core-minutes
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spire.log import get_logger  # noqa: E402

log = get_logger("bench_unit_probe")
# (label, encoder: "mfcc" or "phonetic", layer, clusters); the first row is the baseline
CONFIGS = [("MFCC 25/s (baseline)", "mfcc", 0, 1000),
           ("phonetic bottleneck (layer 3)", "phonetic", 3, 64),
           ("phonetic posteriors (layer 4, the default)", "phonetic", 4, 64),
           ("phonetic posteriors (layer 4)", "phonetic", 4, 200)]


def features(encoder, corpus: Path, split: str) -> tuple[list[np.ndarray], list[str]]:
    from spire.audio import load_audio
    from spire.audio_data import open_audio_dataset

    ds = open_audio_dataset(corpus / f"{split}.yaml")
    feats, texts = [], []
    for r in ds.records():
        feats.append(encoder.features([load_audio(r.audio)])[0].float().numpy())
        texts.append(r.text)
    return feats, texts


def unit_docs(km, feats: list[np.ndarray]) -> list[str]:
    docs = []
    for f in feats:
        u = km.predict(f)
        kept = [u[0]] + [b for a, b in zip(u, u[1:]) if b != a]  # dedup, as the recipe's units
        docs.append(" ".join(f"u{x}" for x in kept))
    return docs


def probe(train_docs, train_texts, test_docs, test_texts) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    words = MultiLabelBinarizer()
    y_train = words.fit_transform([set(t.split()) for t in train_texts])
    y_test = words.transform([set(t.split()) for t in test_texts])
    vec = TfidfVectorizer(ngram_range=(1, 3), token_pattern=r"\S+", min_df=2, sublinear_tf=True)
    clf = OneVsRestClassifier(LogisticRegression(max_iter=2000, C=10)).fit(vec.fit_transform(train_docs), y_train)
    return float(f1_score(y_test, clf.predict(vec.transform(test_docs)), average="micro"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demo-out", type=Path, default=ROOT / "workflows" / "out")
    p.add_argument("--sample-frames", type=int, default=100_000, help="training frames k-means sees")
    a = p.parse_args()
    from sklearn.cluster import MiniBatchKMeans

    from spire.encoders import load_encoder
    from spire.mini.encoders import make_mfcc_encoder

    corpus = a.demo_out / "SynthMiniSpeech" / "Baseline.baseline" / "corpus"
    phonetic = a.demo_out / "MakeMiniEncoder" / "Baseline.baseline" / "encoder"
    for path in (corpus / "train.yaml", phonetic / "encoder.json"):
        if not path.is_file():
            sys.exit(f"{path} is missing: run `make demo` first (or pass --demo-out)")
    mfcc = make_mfcc_encoder(a.demo_out / "bench_unit_probe" / "mfcc25", frame_rate=25.0)
    rows, cache = [], {}
    for label, kind, layer, k in CONFIGS:
        t = time.perf_counter()
        if (kind, layer) not in cache:
            enc = load_encoder(mfcc if kind == "mfcc" else phonetic, layer=layer, device="cpu", dtype="fp32")
            cache[(kind, layer)] = (features(enc, corpus, "train"), features(enc, corpus, "test"))
        (f_tr, t_tr), (f_te, t_te) = cache[(kind, layer)]
        frames = np.concatenate(f_tr)
        sample = frames[np.random.default_rng(0).choice(len(frames), min(len(frames), a.sample_frames),
                                                        replace=False)]
        km = MiniBatchKMeans(k, random_state=0, batch_size=4096, n_init=1).fit(sample)
        d_tr, d_te = unit_docs(km, f_tr), unit_docs(km, f_te)
        f1 = probe(d_tr, t_tr, d_te, t_te)
        units = np.mean([len(d.split()) for d in d_te])
        rows.append((label, k, units, f1))
        log.info("%s, %d clusters: %.1f units an utterance, word micro-F1 %.3f (%.0f s)",
                 label, k, units, f1, time.perf_counter() - t)
    base = rows[0][3]
    print("| units | clusters | units an utterance | word micro-F1 | vs baseline |")
    print("|---|---|---|---|---|")
    for label, k, units, f1 in rows:
        print(f"| {label} | {k} | {units:.1f} | {f1:.3f} | {f1 / base:.2f}x |")


if __name__ == "__main__":
    main()
