#!/usr/bin/env python
"""Synthesise the miniature speech corpus with espeak-ng (80 voices, rate 130-190, pitch 30-70)
from the miniature grammar; train/dev/test sentences are disjoint.

Writes OUT/{split}.jsonl (manifest: id, audio path relative to OUT, text, duration, voice, rate,
pitch), OUT/{split}.txt (transcripts in manifest order), OUT/{split}.yaml (dataset config) and
OUT/wavs/{split}/*.wav (16 kHz mono). Deterministic given --seed.

    python tasks/synth_mini_speech.py --out corpus --n-train 3000 --n-dev 200 --n-test 200 --seed 0
"""
import argparse
import time

from spire.log import get_logger
from spire.mini.speech import synthesize_corpus

log = get_logger("synth_mini_speech")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory (written atomically)")
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--n-dev", type=int, default=200)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="parallel espeak-ng processes (default: CPU count)")
    a = p.parse_args(argv)
    t = time.time()
    secs = synthesize_corpus(a.out, a.n_train, a.n_dev, a.n_test, seed=a.seed, jobs=a.jobs)
    log.info("synthesised %.2f h of audio in %.1f s", sum(secs.values()) / 3600, time.time() - t)


if __name__ == "__main__":
    main()
