#!/usr/bin/env python
"""Concatenate the shards of a labelled corpus in dataset order (cheap: no audio, no model).

Each shard of tasks/label_corpus.py writes a small JSON (--shard-json) naming its rows and its
files; the shards are sorted by their first row and must tile the corpus exactly (no gap, no
overlap, same dataset), so the merged files are byte for byte what one unsharded run writes.

    python tasks/merge_shards.py --shards s0/shard.json s1/shard.json \
        --out units=units.nodedup.txt text=text.txt durations=durations.txt
"""
import argparse
import os
import shutil

from spire.io import atomic_path, read_json
from spire.log import get_logger, log_read, log_wrote

log = get_logger("merge_shards")
SHARD_KEYS = ("data", "shard", "rows", "corpus_rows", "files")


def count_lines(path: str) -> int:
    n = 0
    with open(path, "rb") as f:
        while blk := f.read(1 << 24):
            n += blk.count(b"\n")
    return n


def order_shards(paths: list[str]) -> list[dict]:
    """The shard descriptions in dataset order, checked to tile one corpus."""
    shards = []
    for p in paths:
        d = read_json(p)
        missing = [k for k in SHARD_KEYS if not isinstance(d, dict) or k not in d]
        if missing:
            raise SystemExit(f"{p}: not a shard description of tasks/label_corpus.py --shard-json "
                             f"(no {missing}); give the shard.json of each LabelShard")
        d["json"] = p
        shards.append(d)
    shards.sort(key=lambda d: d["rows"][0])
    first = shards[0]
    corpus = first["corpus_rows"]
    for d in shards:
        if d["data"] != first["data"] or d["corpus_rows"] != corpus:
            raise SystemExit(f"{d['json']}: shard of {d['data']} rows {d['corpus_rows']}, but "
                             f"{first['json']} is of {first['data']} rows {corpus}: not one corpus")
    pos = corpus[0]
    for d in shards:
        if d["rows"][0] != pos:
            what = "a gap" if d["rows"][0] > pos else "an overlap"
            raise SystemExit(f"{d['json']} (shard {d['shard']}) starts at row {d['rows'][0]} but the "
                             f"shards before it end at row {pos}: {what}. Give merge_shards.py every "
                             "shard once (label_shards and the LabelShard branches must agree)")
        pos = d["rows"][1]
    if pos != corpus[1]:
        raise SystemExit(f"the shards end at row {pos} but the corpus has rows up to {corpus[1]}: a shard "
                         "is missing (label_shards and the LabelShard branches must agree)")
    return shards


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", nargs="+", required=True, help="shard JSON files (any order)")
    p.add_argument("--out", nargs="+", required=True, metavar="KIND=PATH",
                   help="merged file per kind of shard file (units, text, durations, ids)")
    a = p.parse_args(argv)
    shards = order_shards(a.shards)
    log_read(log, "shards", f"{len(shards)} files",
             f"rows {shards[0]['corpus_rows'][0]}..{shards[-1]['rows'][1] - 1} of {shards[0]['data']}")
    for spec in a.out:
        kind, sep, out = spec.partition("=")
        if not sep:
            raise SystemExit(f"--out {spec}: expected KIND=PATH")
        with atomic_path(out) as tmp, open(tmp, "wb") as dst:
            for d in shards:
                src = d.get("files", {}).get(kind)
                if src is None:
                    raise SystemExit(f"{d['json']}: no {kind!r} file (has {sorted(d.get('files', {}))})")
                n, want = count_lines(src), d["rows"][1] - d["rows"][0]
                if n != want:
                    raise SystemExit(f"{src}: {n} lines for the {want} rows of shard {d['shard']}")
                with open(src, "rb") as f:
                    shutil.copyfileobj(f, dst, 1 << 24)
        log_wrote(log, kind, out, f"{os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
