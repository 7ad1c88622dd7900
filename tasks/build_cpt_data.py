#!/usr/bin/env python
"""Build the continued pre-training corpus: ASR, MT (both directions) and monolingual documents,
mixed by token weights or budgets, shuffled with a seed; JSONL {"text": ...} + stats JSON.

Example:
  python tasks/build_cpt_data.py --tokenizer tok_ext --out cpt.jsonl --stats cpt_stats.json \
      --asr train.units train.en --mt train.en train.ty en-ty --mono news.en \
      --weights asr=0.8 mt=0.15 mono=0.05 --seed 1
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.io import write_json, write_jsonl  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="extended tokenizer (checks units, counts tokens)")
    ap.add_argument("--out", required=True, help="output JSONL")
    ap.add_argument("--stats", required=True, help="output stats JSON")
    ap.add_argument("--asr", nargs=2, action="append", default=[], metavar=("UNITS", "TRANSCRIPTS"))
    ap.add_argument("--mt", nargs=3, action="append", default=[], metavar=("SRC", "TGT", "PAIR"),
                    help="parallel files and their pair, e.g. en-de")
    ap.add_argument("--mono", action="append", default=[], metavar="TEXT")
    ap.add_argument("--one-direction", action="store_true", help="MT only SRC→TGT")
    ap.add_argument("--weights", nargs="+", help="token shares per kind, e.g. asr=0.8 mt=0.2")
    ap.add_argument("--budgets", nargs="+", help="tokens per kind, e.g. asr=5e9 mt=1e9")
    ap.add_argument("--unit-format", default="pua", choices=["pua", "extra_id"])
    ap.add_argument("--templates", help="prompt templates JSON (default configs/prompts/spire.json)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from transformers import AutoTokenizer
    from spire import cpt_data as cd
    from spire.prompts import load_templates
    log = get_logger("build_cpt_data")
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    n_units = cd.tokenizer_unit_count(tok, args.unit_format)
    log_read(log, "tokenizer", args.tokenizer, f"{n_units} units")
    templates = load_templates(args.templates)
    sources = []
    for u, t in args.asr:
        sources.append(cd.asr_source(u, t, templates, args.unit_format, n_units))
        log_read(log, "ASR pairs", f"{u} + {t}", f"{len(sources[-1].documents)} documents")
    for s, t, pair in args.mt:
        sources.append(cd.mt_source(s, t, pair, templates, not args.one_direction))
        log_read(log, "parallel text", f"{s} + {t}", f"{len(sources[-1].documents)} documents")
    for m in args.mono:
        sources.append(cd.mono_source(m))
        log_read(log, "monolingual text", m, f"{len(sources[-1].documents)} documents")
    if not sources:
        ap.error("give at least one --asr, --mt or --mono source")
    docs, stats = cd.mix(sources, tok, cd.parse_kv(args.weights, float, "weight"),
                         cd.parse_kv(args.budgets, lambda v: int(float(v)), "budget"), args.seed)
    if not docs:
        raise SystemExit(f"{args.out}: the mixture is empty; check --weights/--budgets")
    write_jsonl(args.out, ({"text": d} for d in docs))
    write_json(args.stats, stats)
    log_wrote(log, "CPT corpus", args.out, f"{len(docs)} documents, {stats['total']['tokens']} tokens")
    log_wrote(log, "stats", args.stats)


if __name__ == "__main__":
    main()
