#!/usr/bin/env python
"""Collapse runs of identical consecutive units in a unit corpus (docs/paper.md §1: corpora are
labelled without dedup and deduplicated as a separate step). Line for line; empty lines stay.

    python tasks/dedup_units.py --in train.raw.dsu --out train.dsu [--format pua]
"""
import argparse

from tqdm import tqdm

from spire.io import read_lines, write_lines
from spire.log import get_logger, log_read, log_wrote
from spire.units import UNIT_FORMATS, convert_units_text

log = get_logger("dedup_units")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in", dest="inp", required=True, help="unit lines (pua, extra_id or indices)")
    p.add_argument("--out", required=True)
    p.add_argument("--format", default="pua", choices=UNIT_FORMATS, help="output format (default pua)")
    a = p.parse_args(argv)
    lines = read_lines(a.inp)
    log_read(log, "units", a.inp, f"{len(lines)} lines")
    out = []
    for i, line in enumerate(tqdm(lines, desc="dedup", unit="line"), 1):
        try:
            out.append(convert_units_text(line, a.format, dedup=True) if line.strip() else "")
        except ValueError as e:
            raise SystemExit(f"{a.inp}:{i}: {e}")
    write_lines(a.out, out)
    log_wrote(log, "deduplicated units", a.out, f"{len(out)} lines")


if __name__ == "__main__":
    main()
