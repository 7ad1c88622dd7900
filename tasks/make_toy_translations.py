#!/usr/bin/env python
"""Translate English sentences (one per line) into a toy language of the miniature (ty, rv).

    python tasks/make_toy_translations.py --src en.txt --lang ty --out ty.txt

The output has exactly one line per input line (an empty line stays empty).
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from spire.io import read_lines, write_lines
from spire.log import get_logger, log_read, log_wrote
from spire.mini.toy_lang import TOY_LANGUAGES, translate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True, help="English text, one sentence per line")
    parser.add_argument("--lang", required=True, choices=TOY_LANGUAGES, help="toy language code")
    parser.add_argument("--out", required=True, help="output text file, aligned with --src")
    args = parser.parse_args(argv)

    log = get_logger("make_toy_translations")
    lines = read_lines(args.src)
    log_read(log, "English sentences", args.src, f"{len(lines)} lines")
    out = [translate(line, args.lang) for line in tqdm(lines, desc=f"en→{args.lang}", unit="line")]
    write_lines(args.out, out)
    log_wrote(log, f"{args.lang} translations", args.out, f"{len(out)} lines")


if __name__ == "__main__":
    main()
