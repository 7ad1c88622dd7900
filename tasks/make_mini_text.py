#!/usr/bin/env python
"""Build the miniature's text: English text-only sentences from the mini grammar, their
toy-language translations, and toy-language references for the speech transcripts.

    python tasks/make_mini_text.py --out text/ --n-text 20000 --langs ty rv \
        --transcripts train=corpus/train.txt test=corpus/test.txt

Writes text.en, text.<lang> (parallel) and <split>.<lang> for each --transcripts split.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--n-text", type=int, required=True, help="number of text-only sentences")
    ap.add_argument("--langs", nargs="+", default=["ty", "rv"], help="toy language codes")
    ap.add_argument("--transcripts", nargs="*", default=[], metavar="SPLIT=PATH",
                    help="speech transcripts to translate (their sentences are also excluded)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    transcripts = {}
    for item in args.transcripts:
        name, sep, path = item.partition("=")
        if not sep or not name:
            ap.error(f"--transcripts expects SPLIT=PATH, got {item!r}")
        transcripts[name] = path
    from spire.mini.text import build_mini_text
    build_mini_text(args.out, args.n_text, args.langs, transcripts, seed=args.seed)


if __name__ == "__main__":
    main()
