#!/usr/bin/env python
"""The miniature's shipped pretrained models (world/, spire/mini/shipped.py).

    # TrainMiniBase, after training: record what the model was made from
    python tasks/shipped_model.py record --model MODEL --made-by TrainMiniBase \
        --input text_en=text.en ... --param lr=1e-3 ...
    # ShippedMiniBase: the shipped copy, checked against the same inputs and settings
    python tasks/shipped_model.py install --shipped world/base_lm --out MODEL \
        --input text_en=text.en ... --param lr=1e-3 ...
    # make mini-world: put a freshly trained model into the repository
    python tasks/shipped_model.py ship --model out/TrainMiniBase/Baseline.baseline/model --to world/base_lm

A shipped model made from other inputs or settings than the workflow's, or whose files are damaged,
is an error (exit 2) that lists every difference and how to rebuild it.
"""
import argparse
import sys
from pathlib import Path

from spire.log import get_logger, log_read, log_wrote
from spire.mini.shipped import ShippedMismatch, install, record, ship

log = get_logger("shipped_model")
REBUILD = "`make mini-world`"


def pairs(values, flag):
    out = {}
    for item in values or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"shipped_model.py: {flag} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("record", "install"):
        s = sub.add_parser(name)
        s.add_argument("--input", action="append", help="NAME=PATH of a file or directory it was made from")
        s.add_argument("--param", action="append", help="NAME=VALUE of a setting that made it")
    sub.choices["record"].add_argument("--model", required=True, type=Path)
    sub.choices["record"].add_argument("--made-by", required=True, help="the task that trained it")
    sub.choices["install"].add_argument("--shipped", required=True, type=Path)
    sub.choices["install"].add_argument("--out", required=True, type=Path)
    s = sub.add_parser("ship")
    s.add_argument("--model", required=True, type=Path)
    s.add_argument("--to", required=True, type=Path)
    a = p.parse_args(argv)

    if a.cmd == "ship":
        ship(a.model, a.to)
        log_wrote(log, "shipped model", a.to, f"from {a.model}")
        return 0
    inputs, params = pairs(a.input, "--input"), pairs(a.param, "--param")
    for name, path in inputs.items():
        if not Path(path).exists():
            raise SystemExit(f"shipped_model.py: --input {name}={path}: no such file or directory")
    if a.cmd == "record":
        info = record(a.model, inputs, params, a.made_by)
        log_wrote(log, "provenance", a.model / "world.json", f"{len(info['inputs'])} inputs, "
                  f"{len(info['params'])} settings")
        return 0
    try:
        install(a.shipped, a.out, inputs, params, REBUILD)
    except ShippedMismatch as e:
        print(f"shipped_model.py: {e}", file=sys.stderr)
        return 2
    log_read(log, "shipped model", a.shipped, f"matches its {len(inputs)} inputs and {len(params)} settings")
    log_wrote(log, "model", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
