#!/usr/bin/env python
"""Score translations (MT, direct ST, self-cascaded ST): BLEU/spBLEU, chrF and optional COMET.

BLEU and chrF with sacreBLEU (--tokenize flores200 gives the paper's spBLEU; it needs sacreBLEU's
FLORES-200 SentencePiece model: downloaded on first use into $SACREBLEU/models, or give a local
copy with --spm-model). COMET-22 with unbabel-comet when --comet-model is given (a checkpoint,
a model folder or a hub id); the system score is the mean of segment scores, and the COMET source
is --sources (for ST: the gold transcript).

Writes a score JSON: {"bleu", "chrf", "comet"?, "n", "n_skipped_empty_refs", "tokenize",
"bleu_signature", "chrf_signature", "comet_model"?, "metric": "mt", "testset", "variant",
"lang_pair", "hyps", "refs"}.

Example:
  python tasks/score_mt.py --hyps hyps.de --refs ref.de --sources src.en --tokenize flores200 \\
      --comet-model Unbabel/wmt22-comet-da --out scores.json
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.options import positive_int  # noqa: E402
from spire.io import read_lines, write_json, write_lines  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402
from spire.metrics import (bleu_chrf, check_aligned, comet_scores, parse_scoring_args,  # noqa: E402
                           scoring_parser)

log = get_logger("score_mt")


def parse_args(argv=None):
    p = scoring_parser(__doc__, "translations, one per line", "references, one per line")
    p.add_argument("--sources", help="sources, one per line (needed for COMET; ST: gold transcripts)")
    p.add_argument("--tokenize", default="13a",
                   help="sacreBLEU tokenizer: flores200 (paper spBLEU), 13a, zh, char, ...")
    p.add_argument("--spm-model", help="local copy of the SentencePiece model of --tokenize flores200")
    p.add_argument("--comet-model", help="COMET checkpoint / folder / hub id (omit: no COMET)")
    p.add_argument("--comet-batch-size", type=positive_int, help="default: 64 on GPU, 16 on CPU")
    p.add_argument("--comet-segments-out", help="optional file of COMET segment scores, one per line")
    p.add_argument("--skip-empty-refs", action="store_true",
                   help="drop segments whose reference is empty (e.g. unmatched FLEURS items)")
    p.add_argument("--lang-pair", help="recorded in the JSON, e.g. en-de")
    return parse_scoring_args(p, argv)


def main(argv=None) -> None:
    a = parse_args(argv)
    hyps, refs = read_lines(a.hyps), read_lines(a.refs)
    log_read(log, "hypotheses", a.hyps, f"{len(hyps)} lines")
    log_read(log, "references", a.refs, f"{len(refs)} lines")
    check_aligned(hyps, refs, what="score_mt", hyp_name=a.hyps, ref_name=a.refs)
    srcs = None
    if a.sources:
        srcs = read_lines(a.sources)
        log_read(log, "sources", a.sources, f"{len(srcs)} lines")
        check_aligned(srcs, refs, what="score_mt", hyp_name=a.sources, ref_name=a.refs)
    elif a.comet_model:
        sys.exit("--comet-model needs --sources (for speech translation: the gold transcripts)")
    n_total = len(refs)
    keep = [i for i, r in enumerate(refs) if r.strip() or not a.skip_empty_refs]
    if len(keep) < len(refs):
        log.warning("skipping %d segments with an empty reference", len(refs) - len(keep))
    if not keep:
        raise ValueError(f"{a.refs}: no segments to score ({n_total} lines, "
                         f"{n_total - len(keep)} with an empty reference skipped): check the file")
    hyps, refs = [hyps[i] for i in keep], [refs[i] for i in keep]
    srcs = [srcs[i] for i in keep] if srcs else None

    scores = bleu_chrf(hyps, refs, tokenize=a.tokenize, spm_model=a.spm_model)
    if a.comet_model:
        comet = comet_scores(srcs, hyps, refs, model=a.comet_model, batch_size=a.comet_batch_size)
        if a.comet_segments_out:
            write_lines(a.comet_segments_out, (f"{s:.6f}" for s in comet["comet_segments"]))
            log_wrote(log, "COMET segment scores", a.comet_segments_out)
        # the segment scores stay with the system score: intervals and paired tests resample them
        # (spire/cell_stats.py), the report shows them per item
        scores.update(comet=comet["comet"], comet_model=comet["comet_model"],
                      comet_segments=[round(float(x), 6) for x in comet["comet_segments"]])
    scores.update(n_skipped_empty_refs=n_total - len(keep), metric="mt",
                  testset=a.testset, variant=a.variant, lang_pair=a.lang_pair,
                  hyps=str(Path(a.hyps).resolve()), refs=str(Path(a.refs).resolve()),
                  spm_model=str(Path(a.spm_model).resolve()) if a.spm_model else None)
    write_json(a.out, scores)
    log_wrote(log, "scores", a.out, "BLEU {bleu:.2f} chrF {chrf:.2f}".format(**scores)
              + (f" COMET {scores['comet']:.4f}" if "comet" in scores else ""))


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:  # bad inputs: one line naming the file, no traceback
        sys.exit(f"score_mt: {e}")
