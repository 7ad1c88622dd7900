#!/usr/bin/env python
"""Score ASR hypotheses: corpus WER (percent) with jiwer after text normalisation of both sides.

Writes a score JSON: {"wer", "n", "ref_words", "substitutions", "deletions", "insertions",
"n_empty_refs", "normalizer", "metric": "asr", "testset", "variant", "hyps", "refs"}.

Example:
  python tasks/score_asr.py --hyps hyps.txt --refs refs.txt --normalizer whisper --out scores.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.io import read_lines, write_json  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402
from spire.metrics import NORMALIZERS, check_aligned, scoring_defaults, word_error_rate  # noqa: E402

log = get_logger("score_asr")


def parse_args(argv=None):
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="test-set YAML whose 'scoring:' section sets defaults")
    p.add_argument("--hyps", required=True, help="hypotheses, one per line")
    p.add_argument("--refs", required=True, help="reference transcripts, one per line")
    p.add_argument("--out", required=True, help="score JSON")
    p.add_argument("--normalizer", choices=NORMALIZERS, default="whisper",
                   help="whisper: Whisper English normaliser (paper); basic: language-agnostic")
    p.add_argument("--testset", help="test-set name recorded in the JSON (for the results table)")
    p.add_argument("--variant", help="model-variant name recorded in the JSON")
    defaults = scoring_defaults(known.config)
    p.set_defaults(**{k: v for k, v in defaults.items() if k in ("normalizer", "testset")})
    return p.parse_args(argv)


def main(argv=None) -> None:
    a = parse_args(argv)
    hyps, refs = read_lines(a.hyps), read_lines(a.refs)
    log_read(log, "hypotheses", a.hyps, f"{len(hyps)} lines")
    log_read(log, "references", a.refs, f"{len(refs)} lines")
    check_aligned(hyps, refs, what="score_asr", hyp_name=a.hyps, ref_name=a.refs)
    scores = word_error_rate(hyps, refs, a.normalizer)
    scores.update(metric="asr", testset=a.testset, variant=a.variant,
                  hyps=str(Path(a.hyps).resolve()), refs=str(Path(a.refs).resolve()))
    write_json(a.out, scores)
    log_wrote(log, "scores", a.out, f"WER {scores['wer']:.2f}% on {scores['n']} segments")


if __name__ == "__main__":
    main()
