#!/usr/bin/env python
"""Synthesise the miniature speech corpus with espeak-ng (80 voices, rate 130-190, pitch 30-70)
from the miniature grammar; train/dev/test sentences are disjoint.

Writes OUT/{split}.jsonl (manifest: id, audio path relative to OUT, text, duration, voice, rate,
pitch), OUT/{split}.txt (transcripts in manifest order), OUT/{split}.yaml (dataset config) and
OUT/wavs/{split}/*.wav (16 kHz mono). Deterministic given --seed.

    python tasks/synth_mini_speech.py --out corpus --n-train 3000 --n-dev 200 --n-test 200 --seed 0

Two steps, so that text-only work need not wait for the audio: `--text-only` writes just the
sentences (OUT/{split}.txt), and `--sentences DIR` speaks the sentences of such a directory.
"""
import argparse
import time
from pathlib import Path

from spire.log import get_logger

log = get_logger("synth_mini_speech")
SPLITS = ("train", "dev", "test")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory (written atomically)")
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--n-dev", type=int, default=200)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="parallel espeak-ng processes (default: CPU count)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--text-only", action="store_true", help="write only the sentences, no audio")
    mode.add_argument("--sentences", metavar="DIR",
                      help="speak DIR/{train,dev,test}.txt (from --text-only) instead of drawing sentences")
    a = p.parse_args(argv)
    from spire.io import atomic_path, read_lines, write_lines
    from spire.log import log_read, log_wrote
    from spire.mini.grammar import make_splits

    if a.text_only:
        splits = dict(zip(SPLITS, make_splits(a.n_train, a.n_dev, a.n_test, a.seed)))
        with atomic_path(a.out) as tmp:
            tmp.mkdir()
            for split, texts in splits.items():
                write_lines(tmp / f"{split}.txt", texts)
        for split, texts in splits.items():
            log_wrote(log, f"{split} sentences", Path(a.out) / f"{split}.txt", f"{len(texts)} lines")
        return
    splits = None
    if a.sentences:
        splits = {}
        for split in SPLITS:
            path = Path(a.sentences) / f"{split}.txt"
            if not path.is_file():
                p.error(f"--sentences {a.sentences}: no {split}.txt there (write it with --text-only)")
            splits[split] = read_lines(path)
            log_read(log, f"{split} sentences", path, f"{len(splits[split])} lines")
    from spire.mini.speech import synthesize_corpus

    t = time.time()
    secs = synthesize_corpus(a.out, a.n_train, a.n_dev, a.n_test, seed=a.seed, jobs=a.jobs, splits=splits)
    log.info("synthesised %.2f h of audio in %.1f s", sum(secs.values()) / 3600, time.time() - t)


if __name__ == "__main__":
    main()
