#!/usr/bin/env python
"""Put sacreBLEU's test sets and SentencePiece models into the mirror, with sacreBLEU's own download.

The evaluation configs name what scoring needs (``references: {source: sacrebleu, testset,
langpairs}``: WMT23; ``scoring: {tokenize: flores200}``: spBLEU's SentencePiece model); this
script downloads exactly those into MIRROR/sacrebleu, sacreBLEU's cache layout, so that MTTestSet
and Score read them offline. Run where there is network (`ducttape paper.tape -p fetch_eval`);
already present files are not downloaded again.

    python tasks/fetch_sacrebleu.py --config configs/eval/wmt23.yaml configs/eval/flores200_devtest.yaml \\
        --mirror /data/mirror
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import mirror  # noqa: E402
from spire.io import write_json  # noqa: E402
from spire.log import get_logger, log_wrote  # noqa: E402

log = get_logger("fetch_sacrebleu")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", nargs="+", required=True, help="evaluation YAMLs (configs/eval/*.yaml)")
    ap.add_argument("--mirror", default=None, help=f"mirror root (default ${mirror.ENV})")
    ap.add_argument("--dry-run", action="store_true", help="print what would be downloaded, download nothing")
    ap.add_argument("--info", help="write what is in the mirror now (JSON) here")
    args = ap.parse_args(argv)
    testsets, spm = mirror.sacrebleu_assets(args.config)
    if args.dry_run:
        for line in mirror.sacrebleu_plan_lines(testsets, spm):
            print(line)
        return
    if mirror.mirror_root(args.mirror) is None:
        ap.error(f"no mirror: pass --mirror or set {mirror.ENV} (`mirror` in configs/uservars.tconf)")
    try:
        done = mirror.fetch_sacrebleu(testsets, spm, args.mirror)
    except (RuntimeError, ValueError) as e:
        raise SystemExit(str(e)) from None
    log_wrote(log, "sacreBLEU assets", mirror.sacrebleu_dir(args.mirror), ", ".join(done))
    if args.info:
        write_json(args.info, done)


if __name__ == "__main__":
    main()
