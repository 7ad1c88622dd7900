#!/usr/bin/env python
"""Rebuild FLEURS en→xx references from FLORES by aligning FLEURS transcripts to FLORES English.

Give the FLORES files of every split FLEURS draws from (dev and devtest), in the same order for
English and the target language. Writes one reference per FLEURS transcript (same order) and a
JSON report (exact / fuzzy / unmatched counts). Unmatched transcripts are an error unless
--allow-unmatched, which writes an empty reference line for them (score with
`score_mt.py --skip-empty-refs`).

Example:
  python tasks/align_fleurs_refs.py --transcripts fleurs_test.en \\
      --flores-en flores/dev/eng_Latn.dev flores/devtest/eng_Latn.devtest \\
      --flores-tgt flores/dev/deu_Latn.dev flores/devtest/deu_Latn.devtest \\
      --out refs.de --report align.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.fleurs_refs import align, references, summary  # noqa: E402
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
    matches = align(transcripts, en, threshold=a.threshold)
    report = summary(matches, transcripts)
    if a.report:
        write_json(a.report, report)
        log_wrote(log, "alignment report", a.report)
    log.info("%d exact, %d fuzzy, %d unmatched of %d", report["exact"], report["fuzzy"],
             report["unmatched"], report["n"])
    if report["unmatched"] and not a.allow_unmatched:
        first = report["unmatched_items"][:3]
        sys.exit(f"{a.transcripts}: {report['unmatched']} transcript(s) match no FLORES sentence "
                 f"(threshold {a.threshold}), e.g. " + "; ".join(
                     f"line {x['line']}: {x['transcript'][:60]!r}" for x in first)
                 + ". Add the missing FLORES split, lower --threshold, or pass --allow-unmatched.")
    write_lines(a.out, references(matches, tgt))
    log_wrote(log, "references", a.out, f"{len(transcripts)} lines")


if __name__ == "__main__":
    main()
