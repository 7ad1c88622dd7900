#!/usr/bin/env python
"""Extend a tokenizer with Spire's specials and speech-unit tokens (docs/paper.md §2).

Adds <CLS> <EOD> <MASK> <PAD> <SEP>, then --num-units unit tokens (ids follow the base vocabulary);
--instruct also adds <|im_end|> (eos) and <|im_start|> and the ChatML chat template.
Example: python tasks/extend_tokenizer.py --base Unbabel/TowerBase-7B-v0.1 --num-units 5000 --out tok_ext
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.options import Number, tokenizer_source  # noqa: E402
from spire.io import atomic_path  # noqa: E402
from spire.units import MAX_UNITS  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="base tokenizer: HF directory or hub id")
    ap.add_argument("--out", required=True, help="output tokenizer directory")
    ap.add_argument("--num-units",
                    type=Number(int, low=1, high=MAX_UNITS, tconf="kmeans_clusters"), required=True,
                    help="number of speech units (k-means K)")
    ap.add_argument("--unit-format", default="pua", choices=["pua", "extra_id"])
    ap.add_argument("--instruct", action="store_true", help="add ChatML tokens and template")
    args = ap.parse_args(argv)

    tokenizer_source(args.base, "--base")
    from spire.tokenizer_ext import extend_tokenizer, unit_token_ids
    log = get_logger("extend_tokenizer")
    log_read(log, "tokenizer", args.base)
    with atomic_path(args.out) as tmp:
        tok = extend_tokenizer(args.base, tmp, args.num_units, args.unit_format, args.instruct)
        ids = unit_token_ids(tok, args.num_units, args.unit_format)  # fails loudly if not 1:1
    log_wrote(log, "tokenizer", args.out,
              f"{type(tok).__name__}, {len(tok)} tokens, units {ids[0] if ids else '-'}..{ids[-1] if ids else '-'}")


if __name__ == "__main__":
    main()
