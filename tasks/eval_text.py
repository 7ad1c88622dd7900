#!/usr/bin/env python
"""Test-set text from the datasets (docs/paper.md §5): FLORES-200, WMT23 and speech-set columns.

  flores  --config configs/eval/flores200_devtest.yaml --langs "en de ..." --out DIR
          DIR/dev.<lang> and DIR/devtest.<lang> from openlanguagedata/flores_plus (mirror first):
          the MT test sets, the base models' shots (FLORES dev) and FLEURS's reference source
  pair    --testset flores|wmt23 [--flores DIR] --src-lang en --tgt-lang de --src-out F --ref-out F
          one MT test direction: FLORES devtest from DIR, WMT23 through sacreBLEU's public release
  column  --data configs/eval/covost2_en_de.yaml [--column translation | --transcripts] --out F
          one column of a speech test set in dataset order (default: the config's target_column;
          --transcripts: its text_column, the gold transcripts)

Example:
  python tasks/eval_text.py pair --testset wmt23 --src-lang de --tgt-lang en --src-out src.de --ref-out ref.en
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import eval_sets  # noqa: E402
from spire.io import read_lines, write_lines  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402

log = get_logger("eval_text")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flores", help="FLORES+ dev and devtest files per language")
    f.add_argument("--config", required=True, help="FLORES dataset YAML (configs/eval/flores200_devtest.yaml)")
    f.add_argument("--langs", required=True, help="space-separated language codes, e.g. 'en de zh'")
    f.add_argument("--out", required=True, help="output folder")
    q = sub.add_parser("pair", help="sources and references of one MT direction")
    q.add_argument("--testset", required=True, choices=("flores", "wmt23"))
    q.add_argument("--flores", help="folder written by `flores` (for --testset flores)")
    q.add_argument("--src-lang", required=True)
    q.add_argument("--tgt-lang", required=True)
    q.add_argument("--src-out", required=True)
    q.add_argument("--ref-out", required=True)
    c = sub.add_parser("column", help="one column of a speech test set")
    c.add_argument("--data", required=True, help="dataset YAML")
    c.add_argument("--column", help="column name (default: the YAML's target_column)")
    c.add_argument("--transcripts", action="store_true", help="the config's text_column instead")
    c.add_argument("--out", required=True)
    return p.parse_args(argv)


def target_column(config: str) -> str:
    import yaml

    meta = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    if not meta.get("target_column"):
        raise SystemExit(f"{config}: no target_column; pass --column")
    return str(meta["target_column"])


def main(argv=None) -> None:
    a = parse_args(argv)
    if a.cmd == "flores":
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        counts = {}
        for lang in a.langs.split():
            for split in eval_sets.FLORES_SPLITS:
                lines = eval_sets.flores_lines(a.config, lang, split)
                counts.setdefault(split, set()).add(len(lines))
                write_lines(out / f"{split}.{lang}", lines)
                log_wrote(log, f"FLORES {split} {lang}", out / f"{split}.{lang}", f"{len(lines)} lines")
        for split, ns in counts.items():
            if len(ns) != 1:  # FLORES is multi-way parallel: every language has the same rows
                raise SystemExit(f"FLORES {split}: languages have different line counts {sorted(ns)}")
    elif a.cmd == "pair":
        if a.testset == "flores":
            if not a.flores:
                raise SystemExit("--testset flores needs --flores DIR (from `eval_text.py flores`)")
            src = read_lines(Path(a.flores) / f"devtest.{a.src_lang}")
            ref = read_lines(Path(a.flores) / f"devtest.{a.tgt_lang}")
            log_read(log, "FLORES devtest", a.flores, f"{a.src_lang}-{a.tgt_lang}")
        else:
            src, ref = eval_sets.sacrebleu_pair(a.testset, f"{a.src_lang}-{a.tgt_lang}")
            log_read(log, a.testset, f"sacreBLEU {a.testset}", f"{a.src_lang}-{a.tgt_lang}")
        write_lines(a.src_out, src)
        write_lines(a.ref_out, ref)
        log_wrote(log, "sources", a.src_out, f"{len(src)} lines")
        log_wrote(log, "references", a.ref_out, f"{len(ref)} lines")
    else:
        if a.transcripts:
            from spire.audio_data import load_dataset_config
            column = load_dataset_config(a.data).text_column
            if not column:
                raise SystemExit(f"{a.data}: no text_column")
        else:
            column = a.column or target_column(a.data)
        lines = eval_sets.column_lines(a.data, column)
        write_lines(a.out, lines)
        log_wrote(log, column, a.out, f"{len(lines)} lines from {a.data}")


if __name__ == "__main__":
    main()
