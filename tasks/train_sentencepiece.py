#!/usr/bin/env python
"""Train the miniature's SentencePiece tokenizer on local text; save it as an HF tokenizer dir.

Example: python tasks/train_sentencepiece.py --text train.en train.ty --vocab-size 1000 --out tok
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.options import fraction, positive_int  # noqa: E402
from spire.io import atomic_path, read_lines  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", nargs="+", required=True, help="UTF-8 text files, one sentence per line")
    ap.add_argument("--out", required=True, help="output tokenizer directory (HF save_pretrained)")
    ap.add_argument("--vocab-size", type=positive_int.from_tconf("mini_vocab_size"), default=1000,
                    help="target size incl. 256 byte pieces; keep it small for a small corpus")
    ap.add_argument("--user-symbols", nargs="*", default=None,
                    help="pieces kept whole (default: Speech: and every {Language}:)")
    ap.add_argument("--max-unused", type=fraction, default=0.25,
                    help="fail if more than this share of learned pieces never occurs in the text "
                         "(a vocabulary too large for the corpus)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from spire.mini.base_lm import piece_usage, train_sentencepiece
    from spire.tokenizer_ext import hf_tokenizer_from_sp
    log = get_logger("train_sentencepiece")
    lines = []
    for f in args.text:
        lines += read_lines(f)
        log_read(log, "text", f)
    if not any(line.strip() for line in lines):  # SentencePiece would say "INTERNAL: !sentences_.empty()"
        raise SystemExit(f"{' '.join(args.text)}: no text to train a tokenizer on; check --text")
    with atomic_path(args.out) as tmp:
        try:
            model = train_sentencepiece(args.text, tmp / "sp.model", args.vocab_size,
                                        args.user_symbols, seed=args.seed)
        except RuntimeError as e:  # SentencePiece's own check, e.g. fewer pieces than characters
            raise SystemExit(f"{args.text[0]}: SentencePiece refused --vocab-size {args.vocab_size}: "
                             f"{str(e).split('] ')[-1].strip()}") from None
        tok = hf_tokenizer_from_sp(model)
        used, learned = piece_usage(tok, lines)
        log.info("vocabulary %d; %d of %d learned pieces occur in the text", len(tok), used, learned)
        if learned and 1 - used / learned > args.max_unused:
            raise SystemExit(f"{args.text[0]}: {learned - used} of {learned} learned pieces never occur; "
                             f"lower --vocab-size (now {args.vocab_size}) or raise --max-unused")
        tok.save_pretrained(str(tmp))
        (tmp / "sp.model").unlink()
    log_wrote(log, "tokenizer", args.out, f"{len(tok)} tokens, {type(tok).__name__}")


if __name__ == "__main__":
    main()
