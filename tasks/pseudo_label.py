#!/usr/bin/env python
"""Pseudo-labelled ST: score MT hypotheses of English transcripts, keep the good ones, subsample
per language pair, and write ST conversations with the utterances' units.

    python tasks/pseudo_label.py --units units.txt --transcripts en.txt \\
        --hypotheses de=mt.de.txt --hypotheses fr=mt.fr.txt \\
        --scorer comet --comet-model Unbabel/wmt22-cometkiwi-da --threshold 0.85 \\
        --max-per-pair 100000 --seed 42 --format direct --source pseudo_spgi \\
        --out pseudo_st.jsonl --stats pseudo_st.stats.json

    # miniature: chrF against the toy rule's exact reference stands in for COMET
    python tasks/pseudo_label.py ... --hypotheses ty=mt.ty.txt --references ty=ty.txt \\
        --scorer chrf_ref --threshold 0.85

All files are aligned line by line with --units. Repeat --hypotheses for the same language to
give several MT systems; each line keeps the best-scoring one. Scores are on a 0-1 scale for
every scorer (chrF is divided by 100), so --threshold means the same thing for each.
"""
from __future__ import annotations

import argparse

from spire import it_data, pseudo_label
from spire.options import fraction, nonneg_int, positive_int
from spire.io import write_json, write_jsonl
from spire.log import get_logger, log_read, log_wrote
from spire.prompts import DEFAULT_TEMPLATES, load_templates


def _lang_files(items: list[str] | None, flag: str, multi: bool = False) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items or []:
        lang, sep, path = item.partition("=")
        if not sep or not lang or not path:
            raise SystemExit(f"{flag} {item!r}: expected LANG=PATH, e.g. {flag} de=mt.de.txt")
        if lang in out and not multi:
            raise SystemExit(f"{flag}: language {lang!r} given twice")
        out.setdefault(lang, []).append(path)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", required=True, help="DSU corpus of the utterances, one per line")
    parser.add_argument("--transcripts", required=True, help="English transcripts (the MT source)")
    parser.add_argument("--hypotheses", action="append", required=True, metavar="LANG=PATH",
                        help="MT output for a target language (repeat; same LANG twice = two systems)")
    parser.add_argument("--references", action="append", metavar="LANG=PATH",
                        help="reference translations (chrf_ref; reference-based COMET)")
    parser.add_argument("--scorer", required=True, choices=pseudo_label.SCORERS)
    parser.add_argument("--given-scores", action="append", metavar="LANG=PATH",
                        help="scorer given: a score per line for each --hypotheses file (same order)")
    parser.add_argument("--comet-model", help="COMET checkpoint, model folder or hub id (scorer comet)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="COMET batch size (default: 64 on GPU, 16 on CPU)")
    parser.add_argument("--threshold", type=fraction.from_tconf("pseudo_threshold"), default=0.85,
                        help="keep translations scoring >= this (0-1 scale; 0.85 = authors' COMET cut)")
    parser.add_argument("--max-per-pair", type=nonneg_int.from_tconf("pseudo_max_per_pair"),
                        help="subsample at most N kept lines per pair (0 or none: keep them all)")
    parser.add_argument("--seed", type=int, default=42, help="subsampling / mixed-format seed")
    parser.add_argument("--format", default="direct", choices=it_data.ST_FORMATS,
                        help="ST conversation format(s) written per kept line")
    parser.add_argument("--source", required=True, help="component name stored in each row")
    parser.add_argument("--templates", default=str(DEFAULT_TEMPLATES), help="prompt templates JSON")
    parser.add_argument("--unit-format", default="pua", choices=("pua", "extra_id", "indices"))
    parser.add_argument("--out", required=True, help="output IT JSONL")
    parser.add_argument("--stats", required=True, help="output stats JSON")
    parser.add_argument("--scores-out", help="optional JSONL of every line's score and system")
    parser.add_argument("--cache-dir", help="keep each system's scores here; a re-run on the same "
                        "inputs reuses them instead of scoring again")
    args = parser.parse_args(argv)

    log = get_logger("pseudo_label")
    hyps = _lang_files(args.hypotheses, "--hypotheses", multi=True)
    refs = {k: v[0] for k, v in _lang_files(args.references, "--references").items()}
    for lang in refs:
        if lang not in hyps:
            raise SystemExit(f"--references {lang}=...: no --hypotheses for {lang}")
    if args.scorer == "chrf_ref" and set(refs) != set(hyps):
        raise SystemExit(f"--scorer chrf_ref needs --references for every language; missing: "
                         f"{sorted(set(hyps) - set(refs))}")
    if args.scorer == "comet" and not args.comet_model:
        raise SystemExit("--scorer comet needs --comet-model (checkpoint, folder or hub id)")
    if args.comet_model:  # a hub id is read from the mirror ($SPIRE_MIRROR) when it holds it
        from spire.mirror import resolve_model
        args.comet_model = resolve_model(args.comet_model)
    templates = load_templates(args.templates)
    it_data.check_templates(templates, "st", args.templates)

    files = {"units": args.units, "transcripts": args.transcripts}
    for lang, paths in hyps.items():
        files.update({f"hypotheses[{lang}#{k}]": p for k, p in enumerate(paths)})
    files.update({f"references[{lang}]": p for lang, p in refs.items()})
    given = _lang_files(args.given_scores, "--given-scores", multi=True)
    if args.scorer == "given" and {k: len(v) for k, v in given.items()} != {k: len(v) for k, v in hyps.items()}:
        raise SystemExit("--scorer given needs one --given-scores LANG=PATH per --hypotheses LANG=PATH")
    files.update({f"given[{lang}#{k}]": p for lang, paths in given.items() for k, p in enumerate(paths)})
    data = it_data.read_aligned(files)
    for name, path in files.items():
        log_read(log, name, path, f"{len(data[name])} lines")

    comet_model = None
    if args.scorer == "comet":
        from spire.metrics import load_comet
        comet_model = load_comet(args.comet_model)
        log_read(log, "COMET model", args.comet_model)

    results = {}
    for lang, paths in hyps.items():
        results[lang] = pseudo_label.pseudo_label_pair(
            data["units"], data["transcripts"],
            [data[f"hypotheses[{lang}#{k}]"] for k in range(len(paths))], lang, args.scorer,
            args.threshold, args.max_per_pair, args.seed, data.get(f"references[{lang}]"),
            comet_model, args.batch_size, args.cache_dir, args.comet_model,
            [[float(x or "-inf") for x in data[f"given[{lang}#{k}]"]] for k in range(len(paths))]
            if args.scorer == "given" else None)
        log.info("en-%s: %s", lang, results[lang]["stats"])
    rows = pseudo_label.pseudo_label_rows(templates, data["units"], data["transcripts"], results,
                                          args.source, args.format, args.seed, args.units,
                                          args.unit_format)
    stats = {
        "scorer": args.scorer,
        "comet_model": args.comet_model,
        "threshold": args.threshold,
        "max_per_pair": args.max_per_pair,
        "seed": args.seed,
        "format": args.format,
        "source": args.source,
        "pairs": {f"en-{lang}": {**res["stats"], "systems": hyps[lang]}
                  for lang, res in results.items()},
        "total": {k: sum(r["stats"][k] for r in results.values())
                  for k in ("lines", "empty", "scored", "kept", "subsampled")},
        "examples_written": len(rows),
    }
    if not rows:
        # An empty component would silently drop pseudo-labelled ST from the mixture.
        write_json(args.stats, stats)
        raise SystemExit(f"no translation scored >= {args.threshold} with {args.scorer}; "
                         f"nothing to write (stats in {args.stats})")
    if args.scores_out:
        chosen = {lang: set(res["chosen"]) for lang, res in results.items()}
        write_jsonl(args.scores_out, (
            {"pair": f"en-{lang}", "line": i + 1, "score": s, "system": res["systems"][i],
             "chosen": i in chosen[lang]}
            for lang, res in results.items() for i, s in enumerate(res["scores"]) if s is not None))
        log_wrote(log, "scores", args.scores_out)
    write_jsonl(args.out, rows)
    log_wrote(log, "pseudo-labelled ST conversations", args.out, f"{len(rows)} rows")
    write_json(args.stats, stats)
    log_wrote(log, "stats", args.stats)


if __name__ == "__main__":
    main()
