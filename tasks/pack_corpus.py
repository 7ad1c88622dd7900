#!/usr/bin/env python
"""Tokenise and pack a CPT ({"text"}) or IT ({"messages"}) corpus once, into memory-mapped rows
for tasks/train_lm.py --train-data (format: spire/packed.py). Streams its input; --num-proc
processes tokenise in parallel (one per core given to the job).

  python tasks/pack_corpus.py --tokenizer TOK --input cpt.jsonl --seq-len 2048 --out packed --num-proc 16
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.options import nonneg_int, positive_int  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="tokenizer directory (the instruct one for IT)")
    ap.add_argument("--input", action="append", required=True,
                    help="JSONL corpus; repeat for several (concatenated in order)")
    ap.add_argument("--seq-len", type=int, required=True, help="tokens per row")
    ap.add_argument("--out", required=True, help="output directory (must not exist)")
    ap.add_argument("--num-proc", type=nonneg_int, default=0,
                    help="tokenising processes (default: the CPUs this process may use)")
    ap.add_argument("--no-packing", dest="packing", action="store_false",
                    help="one (truncated) example per row: the padding baseline")
    ap.add_argument("--max-examples", type=positive_int, help="only the first N non-blank lines (debugging)")
    ap.add_argument("--lines-per-chunk", type=int, default=1000, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    log = get_logger("pack_corpus")
    num_proc = args.num_proc or len(os.sched_getaffinity(0))
    for path in args.input:
        log_read(log, "corpus", path)
    from spire.packed import pack_corpus
    meta = pack_corpus(args.tokenizer, args.input, args.seq_len, args.out, num_proc=num_proc,
                       packing=args.packing, max_examples=args.max_examples,
                       lines_per_chunk=args.lines_per_chunk)
    s = meta["stats"]
    log_wrote(log, "packed corpus", args.out,
              f"{s['kind']}: {s['examples']} examples -> {s['rows']} rows of <= {args.seq_len} tokens, "
              f"{s['tokens']} tokens, fill {s['fill']:.3f}, {num_proc} processes, {s['pack_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
