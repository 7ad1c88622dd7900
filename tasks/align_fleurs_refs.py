#!/usr/bin/env python
"""Rebuild FLEURS en→xx references from FLORES by aligning FLEURS transcripts to FLORES English.

By default (--match exact, the paper path) each transcript must be a FLORES sentence verbatim, as
in the authors' code: give the FLORES split the FLEURS split reads (devtest for FLEURS test).
Any transcript without a match is an error naming the file and the first unmatched lines, unless
--allow-unmatched, which writes an empty reference line for them (score with
`score_mt.py --skip-empty-refs`). --match fuzzy (normalised, then rapidfuzz ratio ≥ --threshold)
is an explicit option for corpora whose transcripts were edited. Several FLORES files are read
in order, the same order for English and the target language. Writes one reference per FLEURS
transcript (same order) and a JSON report (exact / fuzzy / unmatched counts).

Example:
  python tasks/align_fleurs_refs.py --transcripts fleurs_test.en \\
      --flores-en flores/devtest.en --flores-tgt flores/devtest.de \\
      --out refs.de --report align.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.fleurs_refs import MODES, align, check_matched, references, summary  # noqa: E402
from spire.io import read_lines, write_json, write_lines  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402

log = get_logger("align_fleurs_refs")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transcripts", required=True, help="FLEURS raw transcriptions, one per line")
    p.add_argument("--flores-en", nargs="+", required=True, help="FLORES English file(s)")
    p.add_argument("--flores-tgt", nargs="+", required=True,
                   help="FLORES target-language file(s), aligned with --flores-en")
    p.add_argument("--out", required=True, help="references, one per transcript")
    p.add_argument("--report", help="JSON report of the alignment")
    p.add_argument("--match", choices=MODES, default="exact",
                   help="exact: verbatim FLORES sentences (the authors'); fuzzy: normalised, then "
                        "rapidfuzz ratio >= --threshold")
    p.add_argument("--threshold", type=float, default=90.0, help="fuzzy match cut-off (0-100)")
    p.add_argument("--allow-unmatched", action="store_true",
                   help="write empty references for unmatched transcripts instead of failing")
    return p.parse_args(argv)


def read_concat(paths: list[str], what: str) -> list[str]:
    lines = []
    for path in paths:
        part = read_lines(path)
        log_read(log, what, path, f"{len(part)} lines")
        lines += part
    return lines


def main(argv=None) -> None:
    a = parse_args(argv)
    transcripts = read_lines(a.transcripts)
    log_read(log, "FLEURS transcripts", a.transcripts, f"{len(transcripts)} lines")
    en = read_concat(a.flores_en, "FLORES English")
    tgt = read_concat(a.flores_tgt, "FLORES target")
    if len(en) != len(tgt):
        sys.exit(f"FLORES English ({' '.join(a.flores_en)}: {len(en)} lines) and target "
                 f"({' '.join(a.flores_tgt)}: {len(tgt)} lines) are not aligned")
    matches = align(transcripts, en, mode=a.match, threshold=a.threshold)
    report = summary(matches, transcripts)
    report["match"] = a.match
    if a.report:
        write_json(a.report, report)
        log_wrote(log, "alignment report", a.report)
    log.info("%d exact, %d fuzzy, %d unmatched of %d (--match %s)", report["exact"], report["fuzzy"],
             report["unmatched"], report["n"], a.match)
    if not a.allow_unmatched:
        try:
            check_matched(matches, transcripts, a.transcripts, a.flores_en, a.match)
        except ValueError as e:
            sys.exit(str(e))
    write_lines(a.out, references(matches, tgt))
    log_wrote(log, "references", a.out, f"{len(transcripts)} lines")


if __name__ == "__main__":
    main()
