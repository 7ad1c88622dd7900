#!/usr/bin/env python
"""Build the continued pre-training corpus: ASR, MT (both directions) and monolingual documents,
mixed by token weights or budgets in a seeded order, streamed (memory does not grow with
the corpus); empty unit lines (unreadable utterances) are skipped and counted in the stats; JSONL {"text": ...} + stats JSON.

Example:
  python tasks/build_cpt_data.py --tokenizer tok_ext --out cpt.jsonl --stats cpt_stats.json \
      --asr train.units train.en --mt train.en train.ty en-ty --mono news.en \
      --weights asr=0.8 mt=0.15 mono=0.05 --seed 1
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.options import positive_int  # noqa: E402
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
    ap.add_argument("--mt-pairs-per-doc", type=positive_int.from_tconf("cpt_mt_pairs"), default=1,
                    help="sentence pairs of one direction per MT document, joined as in a few-shot "
                         "prompt (default 1, the paper's format; the miniature's TowerBase uses 4)")
    ap.add_argument("--weights", nargs="+", help="token shares per kind, e.g. asr=0.8 mt=0.2")
    ap.add_argument("--budgets", nargs="+", help="tokens per kind, e.g. asr=5e9 mt=1e9")
    ap.add_argument("--unit-format", default="pua", choices=["pua", "extra_id"])
    ap.add_argument("--templates", help="prompt templates JSON (default configs/prompts/spire.json)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--buffer-size", type=positive_int.from_tconf("cpt_shuffle_buffer"), default=10000,
                    help="documents held for shuffling (memory is this, not the corpus)")
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
        log_read(log, "ASR pairs", f"{u} + {t}", sources[-1].name)
    for s, t, pair in args.mt:
        sources.append(cd.mt_source(s, t, pair, templates, not args.one_direction,
                                    args.mt_pairs_per_doc))
        log_read(log, "parallel text", f"{s} + {t}", sources[-1].name)
    for m in args.mono:
        sources.append(cd.mono_source(m))
        log_read(log, "monolingual text", m, sources[-1].name)
    if not sources:
        ap.error("give at least one --asr, --mt or --mono source")
    docs, stats = cd.mix_stream(sources, tok, cd.parse_kv(args.weights, float, "weight"),
                                cd.parse_kv(args.budgets, lambda v: int(float(v)), "budget"), args.seed,
                                args.buffer_size)
    n = write_jsonl(args.out, ({"text": d} for d in docs))  # streamed, renamed into place at the end
    if not n:
        os.remove(args.out)
        raise SystemExit(f"{args.out}: the mixture is empty; check --weights/--budgets")
    skipped = {name: v["skipped"] for name, v in stats["sources"].items() if v["skipped"]}
    stats["skipped"] = {reason: sum(v.get(reason, 0) for v in skipped.values())
                        for reason in sorted({r for v in skipped.values() for r in v})}
    write_json(args.stats, stats)
    for name, v in skipped.items():
        log.warning("%s: skipped %s", name, ", ".join(f"{c} {r.replace('_', ' ')}" for r, c in v.items()))
    log_wrote(log, "CPT corpus", args.out, f"{n} documents, {stats['total']['tokens']} tokens from "
              f"{len(sources)} sources")
    log_wrote(log, "stats", args.stats)

if __name__ == "__main__":
    main()
