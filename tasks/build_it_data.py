#!/usr/bin/env python
"""Build instruction-tuning conversations (HF messages JSONL) from aligned line files.

    python tasks/build_it_data.py asr --units units.txt --transcripts en.txt \\
        --source commonvoice_asr --out asr.jsonl
    python tasks/build_it_data.py st --units units.txt --transcripts en.txt \\
        --translations de=de.txt --translations fr=fr.txt --format both \\
        --source europarl_st --out st.jsonl
    python tasks/build_it_data.py mt --text en=en.txt --text ty=ty.txt --pairs en-ty ty-en \\
        --source toy_mt --out mt.jsonl
    python tasks/build_it_data.py blocks --input towerblocks.jsonl|DIR|configs/datasets/towerblocks_train.yaml \\
        --source towerblocks --out blocks.jsonl

Every row: {"messages": [...], "task", "source", "lang", "line"}; the prompts come from
--templates (default configs/prompts/spire.json). Lines with empty units or text (an unreadable
utterance) are skipped and counted in --stats.
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from spire import it_data
from spire.options import positive_int
from spire.io import write_json, write_jsonl
from spire.log import get_logger, log_read, log_wrote
from spire.prompts import DEFAULT_TEMPLATES, load_templates


def _lang_files(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        lang, sep, path = item.partition("=")
        if not sep or not lang or not path:
            raise SystemExit(f"{flag} {item!r}: expected LANG=PATH, e.g. {flag} de=de.txt")
        if lang in out:
            raise SystemExit(f"{flag}: language {lang!r} given twice")
        out[lang] = path
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--source", required=True, help="component name stored in each row")
    common.add_argument("--out", required=True, help="output JSONL")
    common.add_argument("--stats", help="optional JSON with counts per task/language and skipped lines")
    common.add_argument("--templates", default=str(DEFAULT_TEMPLATES), help="prompt templates JSON")
    speech = argparse.ArgumentParser(add_help=False)
    speech.add_argument("--units", required=True, help="DSU corpus, one utterance per line")
    speech.add_argument("--unit-format", default="pua", choices=("pua", "extra_id", "indices"),
                        help="unit format written into the prompts (input format is detected)")

    p = sub.add_parser("asr", parents=[common, speech], help="Speech: {units}\\nEnglish: → transcript")
    p.add_argument("--transcripts", required=True, help="English transcripts, aligned with --units")

    p = sub.add_parser("st", parents=[common, speech], help="direct and/or multi-turn ST")
    p.add_argument("--translations", action="append", required=True, metavar="LANG=PATH",
                   help="translations aligned with --units (repeat per target language)")
    p.add_argument("--transcripts", help="English transcripts (needed for multi-turn formats)")
    p.add_argument("--format", default="direct", choices=it_data.ST_FORMATS,
                   help="direct, multiturn, both (two rows per utterance) or mixed (one of the two, seeded)")
    p.add_argument("--seed", type=int, default=42, help="seed of the 'mixed' format choice")

    p = sub.add_parser("mt", parents=[common], help="text MT instructions from multi-parallel files")
    p.add_argument("--text", action="append", required=True, metavar="LANG=PATH",
                   help="one line file per language, all aligned (repeat)")
    p.add_argument("--pairs", nargs="+", required=True, help="directions, e.g. en-ty ty-en")
    p.add_argument("--max-lines", type=positive_int.from_tconf("blocks_max_lines"),
                   help="use only the first N lines of the files")

    p = sub.add_parser("blocks", parents=[common], help="validate/convert text instruction sets")
    p.add_argument("--input", required=True,
                   help="JSONL (messages or ShareGPT conversations), parquet, save_to_disk dir, or a dataset config (.yaml: hub id through the mirror)")
    p.add_argument("--max-examples", type=positive_int, help="keep only the first N rows")
    args = parser.parse_args(argv)

    log = get_logger("build_it_data")
    skipped: dict[str, int] = {}
    if args.kind == "blocks":
        log_read(log, "text instructions", args.input)
        rows = []
        for where, row in tqdm(it_data.iter_instruction_rows(args.input), desc="blocks", unit="row"):
            if args.max_examples is not None and len(rows) >= args.max_examples:
                break
            rows.append(it_data.blocks_row(row, where, args.source))
    else:
        templates = load_templates(args.templates)
        it_data.check_templates(templates, args.kind, args.templates)
        if args.kind == "mt":
            files = _lang_files(args.text, "--text")
            texts = it_data.read_aligned(files)
            for lang, path in files.items():
                log_read(log, f"{lang} text", path, f"{len(texts[lang])} lines")
            if args.max_lines is not None:
                texts = {lang: lines[:args.max_lines] for lang, lines in texts.items()}
            rows = list(tqdm(it_data.mt_rows(templates, texts, args.pairs, args.source, skipped),
                             desc="mt", unit="row"))
        else:
            files = {"units": args.units}
            if args.transcripts:
                files["transcripts"] = args.transcripts
            translations = _lang_files(getattr(args, "translations", None), "--translations")
            files.update({f"translations[{lang}]": path for lang, path in translations.items()})
            data = it_data.read_aligned(files)
            for name, path in files.items():
                log_read(log, name, path, f"{len(data[name])} lines")
            if args.kind == "asr":
                gen = it_data.asr_rows(templates, data["units"], data["transcripts"], args.source,
                                       args.units, args.unit_format, skipped)
            else:
                gen = it_data.st_rows(
                    templates, data["units"],
                    {lang: data[f"translations[{lang}]"] for lang in translations}, args.source,
                    transcripts=data.get("transcripts"), fmt=args.format, seed=args.seed,
                    units_path=args.units, unit_format=args.unit_format, skipped=skipped)
            rows = list(tqdm(gen, desc=args.kind, unit="row"))
    if not rows:
        raise SystemExit(f"no {args.kind} examples built (skipped: {skipped}); check the inputs")
    write_jsonl(args.out, rows)
    log_wrote(log, f"{args.kind} conversations", args.out, f"{len(rows)} rows, skipped {skipped}")
    if args.stats:
        write_json(args.stats, {**it_data.count_rows(rows), "skipped": skipped})
        log_wrote(log, "stats", args.stats)


if __name__ == "__main__":
    main()
