#!/usr/bin/env python
"""Build, from the mirror, the text the paper path needs (spire/corpora.py); no hand-made folder.

  flores  FLORES+ text files OUT/<split>.<lang> (few-shot examples: dev; MT tests: devtest)
  st      a gold ST corpus's English lines and translations, aligned with its dataset order:
          OUT/text.txt and OUT/<lang>.txt (empty where the corpus has none for that language)
  europarl  Europarl-ST segmented by its offsets: OUT/audio/*.flac, OUT/corpus.jsonl and the dataset
          config OUT/corpus.yaml (metadata from the hub set, audio from the official release)
  spite   one of the authors' published pseudo-labelled sets: OUT/mt.txt and OUT/score.txt (its
          CometKiwi column), checked line by line against the transcripts that were labelled
  join    several (units, ST text folder) pairs into one ST corpus folder: units.txt, text.txt,
          <lang>.txt (the format BuildITSpeech reads)

    python tasks/build_corpora.py flores --configs-dir configs/datasets/flores_plus --langs de zh --out flores
    python tasks/build_corpora.py st --data configs/datasets/fleurs_en_us_train.yaml --flores flores \\
        --langs de es fr it ko nl pt ru zh --out fleurs_st
    python tasks/build_corpora.py europarl --data configs/datasets/europarl_st_en.yaml \
        --audio-root $MIRROR/raw/europarl-st/v1.1 --langs de es fr it nl pt --out europarl
    python tasks/build_corpora.py join --part fleurs/units.txt fleurs_st --langs de zh --out gold
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.io import atomic_path, read_lines, write_json, write_lines  # noqa: E402
from spire.log import get_logger, log_wrote  # noqa: E402

log = get_logger("build_corpora")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flores")
    f.add_argument("--configs-dir", required=True, help="folder of <code>.<split>.yaml FLORES+ configs")
    f.add_argument("--langs", nargs="+", required=True)
    f.add_argument("--splits", nargs="+", default=["dev", "devtest"])
    s = sub.add_parser("st")
    s.add_argument("--data", required=True, help="dataset config of the ST corpus")
    s.add_argument("--langs", nargs="+", required=True)
    s.add_argument("--flores", help="FLORES+ text folder (`flores` output) for references: flores_plus")
    s.add_argument("--fuzzy-threshold", type=float, default=90.0)
    e = sub.add_parser("europarl")
    e.add_argument("--data", required=True, help="dataset config of the Europarl-ST metadata")
    e.add_argument("--audio-root", required=True, help="the extracted v1.1 release")
    e.add_argument("--langs", nargs="+", required=True)
    p_ = sub.add_parser("spite")
    p_.add_argument("--data", required=True, help="dataset config of a published set (configs/datasets/spite/)")
    p_.add_argument("--text", required=True, help="the transcripts LabelSpeech wrote for the labelled set")
    p_.add_argument("--score-column", default="cometqe_22")
    j = sub.add_parser("join")
    j.add_argument("--part", nargs=2, action="append", required=True, metavar=("UNITS", "ST_DIR"))
    j.add_argument("--langs", nargs="+", required=True)
    for p in (f, s, e, p_, j):
        p.add_argument("--out", required=True, help="output folder")
    args = ap.parse_args(argv)
    from spire import corpora

    out = Path(args.out)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        if args.cmd == "flores":
            stats = corpora.write_flores(Path(args.configs_dir), args.langs, args.splits, tmp)
        elif args.cmd == "europarl":
            stats = corpora.segment_europarl(args.data, Path(args.audio_root), args.langs, tmp)
        elif args.cmd == "spite":
            mt, scores, stats = corpora.published_pseudo(args.data, read_lines(args.text), args.score_column)
            write_lines(tmp / "mt.txt", mt)
            write_lines(tmp / "score.txt", scores)
        elif args.cmd == "st":
            english, trans, stats = corpora.st_translations(args.data, args.langs,
                                                            Path(args.flores) if args.flores else None,
                                                            args.fuzzy_threshold)
            write_lines(tmp / "text.txt", english)
            for lang, lines in trans.items():
                write_lines(tmp / f"{lang}.txt", lines)
        else:
            stats = {"parts": []}
            files = {name: [] for name in ["units.txt", "text.txt"] + [f"{lang}.txt" for lang in args.langs]}
            for units, st_dir in args.part:
                u, t = read_lines(units), read_lines(Path(st_dir) / "text.txt")
                if len(u) != len(t):
                    raise SystemExit(f"{units} has {len(u)} lines but {st_dir}/text.txt has {len(t)}: "
                                     "the ST text must be built from the same dataset config as the units")
                files["units.txt"] += u
                files["text.txt"] += t
                for lang in args.langs:
                    p = Path(st_dir) / f"{lang}.txt"
                    lines = read_lines(p) if p.is_file() else [""] * len(u)
                    if len(lines) != len(u):
                        raise SystemExit(f"{p} has {len(lines)} lines but {units} has {len(u)}")
                    files[f"{lang}.txt"] += lines
                stats["parts"].append({"units": units, "st": st_dir, "lines": len(u)})
            for name, lines in files.items():
                write_lines(tmp / name, lines)
        write_json(tmp / "stats.json", stats)
    log_wrote(log, args.cmd, out, str(stats)[:300])


if __name__ == "__main__":
    main()
