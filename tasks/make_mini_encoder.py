#!/usr/bin/env python
"""Build a miniature encoder checkpoint locally (no network).

--type mfcc   : directory with encoder.json (13 MFCC + deltas + delta-deltas, --frame-rate frames/s)
--type hubert : tiny random HF HubertModel (HuBERT-Large-shaped: pre-LN, layer-norm convs,
                normalised input; 2 layers of width 64, 128 conv channels) + feature extractor
--type w2v_bert, --type whisper : tiny random w2v-BERT 2.0 / Whisper models (width 32) with their
                feature extractors, to try the other encoder types of the units stage offline
--type phonetic : MFCC frames (--frame-rate) into an MLP trained on espeak-ng's phoneme timings
                of --sentences new grammar sentences, none of the --exclude files' lines (the
                corpus's transcripts); spire/mini/phonetic.py says why. Layers 1-3 are its hidden
                layers, layer 4 its phoneme posteriors.

    python tasks/make_mini_encoder.py --type mfcc --out encoder
    python tasks/make_mini_encoder.py --type phonetic --frame-rate 25 --sentences 3000 \
        --exclude sentences/train.txt sentences/dev.txt sentences/test.txt --out encoder
"""
import argparse

from spire.io import read_lines
from spire.log import get_logger, log_read, log_wrote
from spire.mini.encoders import make_mfcc_encoder, make_tiny_hubert, make_tiny_w2v_bert, make_tiny_whisper

log = get_logger("make_mini_encoder")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--type", required=True, choices=["mfcc", "hubert", "w2v_bert", "whisper", "phonetic"])
    p.add_argument("--out", required=True, help="output directory (written atomically)")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed (hubert; phonetic: its sentences, voices and training)")
    p.add_argument("--layers", type=int, default=2, help="transformer layers (hubert)")
    p.add_argument("--n-mfcc", type=int, default=13, help="cepstral coefficients (mfcc)")
    p.add_argument("--deltas", type=int, default=2, choices=[0, 1, 2], help="delta orders appended (mfcc)")
    p.add_argument("--frame-rate", type=float, default=50.0,
                   help="frames per second (mfcc, phonetic; HuBERT's is 50)")
    p.add_argument("--sentences", type=int, default=3000, help="sentences to learn from (phonetic)")
    p.add_argument("--epochs", type=int, default=8, help="training epochs over their frames (phonetic)")
    p.add_argument("--exclude", nargs="*", default=[],
                   help="text files whose lines the phonetic encoder must not learn from (phonetic)")
    a = p.parse_args(argv)
    if a.type in ("mfcc", "phonetic") and not 5 <= a.frame_rate <= 200:
        p.error(f"--frame-rate {a.frame_rate}: choose between 5 and 200 frames/s")
    if a.type == "phonetic" and (a.epochs < 1 or a.sentences < 1):
        p.error(f"--epochs {a.epochs}, --sentences {a.sentences}: both must be at least 1")
    if a.type == "phonetic":
        from spire.mini.phonetic import encoder_sentences, make_phonetic_encoder

        exclude = []
        for path in a.exclude:
            exclude += read_lines(path)
            log_read(log, "sentences to exclude", path)
        texts = encoder_sentences(a.sentences, seed=a.seed, exclude=exclude)
        summary = make_phonetic_encoder(a.out, texts, seed=a.seed, frame_rate=a.frame_rate, epochs=a.epochs)
        log_wrote(log, "phonetic encoder", a.out,
                  f"{summary['phonemes']} phonemes from {summary['sentences']} sentences, held-out "
                  f"frame accuracy {summary['held_out_frame_accuracy']:.4f}; use --layer 4 (posteriors)")
    elif a.type == "mfcc":
        make_mfcc_encoder(a.out, n_mfcc=a.n_mfcc, deltas=a.deltas, frame_rate=a.frame_rate)
        log_wrote(log, "MFCC encoder", a.out,
                  f"{a.n_mfcc * (1 + a.deltas)}-d features at {a.frame_rate:g} frames/s; use any --layer")
    elif a.type == "hubert":
        make_tiny_hubert(a.out, seed=a.seed, num_hidden_layers=a.layers)
        log_wrote(log, "tiny HuBERT", a.out, f"{a.layers} layers: use --layer {a.layers}")
    elif a.type == "w2v_bert":
        make_tiny_w2v_bert(a.out, seed=a.seed, num_hidden_layers=a.layers)
        log_wrote(log, "tiny w2v-BERT 2.0", a.out, f"{a.layers} layers: use --layer {a.layers}")
    else:
        make_tiny_whisper(a.out, seed=a.seed, encoder_layers=a.layers)
        log_wrote(log, "tiny Whisper", a.out, f"{a.layers} encoder layers: use --layer {a.layers}")


if __name__ == "__main__":
    main()
