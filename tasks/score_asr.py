#!/usr/bin/env python
"""Score ASR hypotheses: corpus WER (percent) with jiwer after text normalisation of both sides.

Writes a score JSON: {"wer", "n", "ref_words", "substitutions", "deletions", "insertions",
"n_empty_refs", "empty_ref_lines", "normalizer", "metric": "asr", "testset", "variant", "hyps", "refs"}.

References empty after normalisation (blank, only punctuation) are left out of the WER with a
warning naming their lines ("n" counts the segments scored); all of them empty is an error.

Example:
  python tasks/score_asr.py --hyps hyps.txt --refs refs.txt --normalizer whisper --out scores.json
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.io import read_lines, write_json  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402
from spire.metrics import (NORMALIZERS, check_aligned, parse_scoring_args, scoring_parser,  # noqa: E402
                           word_error_rate)

log = get_logger("score_asr")


def parse_args(argv=None):
    p = scoring_parser(__doc__, "hypotheses, one per line", "reference transcripts, one per line")
    p.add_argument("--normalizer", choices=NORMALIZERS, default="whisper",
                   help="whisper: Whisper English normaliser (paper); basic: language-agnostic")
    return parse_scoring_args(p, argv)


def main(argv=None) -> None:
    a = parse_args(argv)
    hyps, refs = read_lines(a.hyps), read_lines(a.refs)
    log_read(log, "hypotheses", a.hyps, f"{len(hyps)} lines")
    log_read(log, "references", a.refs, f"{len(refs)} lines")
    check_aligned(hyps, refs, what="score_asr", hyp_name=a.hyps, ref_name=a.refs)
    scores = word_error_rate(hyps, refs, a.normalizer, ref_name=a.refs)
    scores.update(metric="asr", testset=a.testset, variant=a.variant,
                  hyps=str(Path(a.hyps).resolve()), refs=str(Path(a.refs).resolve()))
    write_json(a.out, scores)
    log_wrote(log, "scores", a.out, f"WER {scores['wer']:.2f}% on {scores['n']} segments")


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:  # bad inputs: one line naming the file, no traceback
        sys.exit(f"score_asr: {e}")
