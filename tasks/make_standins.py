#!/usr/bin/env python
"""Build the rehearsal's mirror: a stand-in for every hub dataset and model of the paper path.

Same hub ids, configs, splits, columns and audio encodings as the real datasets; a handful of
espeak-ng rows each; tiny models of the real model types (spire/standins.py). Offline, ~20 s on
2 cores. `make rehearsal` runs it, then paper.tape with configs/rehearsal.tconf on this mirror.

    python tasks/make_standins.py --out /tmp/standins          # datasets/ and models/
    python tasks/make_standins.py --out M --only google/fleurs  # just some datasets (no models)
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.io import write_json  # noqa: E402
from spire.log import get_logger, log_wrote  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="mirror root to fill (datasets/ and models/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="+", metavar="HUB_ID", help="only these datasets, no models")
    ap.add_argument("--no-released", action="store_true",
                    help="skip the released-checkpoint stand-ins (utter-project/Spire*)")
    args = ap.parse_args(argv)

    from spire import standins
    log = get_logger("make_standins")
    if args.only:
        unknown = sorted(set(args.only) - set(standins.DATASETS))
        if unknown:
            ap.error(f"--only: no stand-in for {unknown}; known: {sorted(standins.DATASETS)}")
        report = {"datasets": standins.build_datasets(args.out, args.seed, only=args.only), "models": []}
    else:
        report = standins.build_mirror(args.out, args.seed, released=not args.no_released)
    write_json(Path(args.out) / "standins.json", report)
    log_wrote(log, "mirror", args.out, f"{len(report['datasets'])} dataset splits, "
              f"{len(report['models'])} models")
    print(json.dumps(report.get("seconds", {})))


if __name__ == "__main__":
    main()
