#!/usr/bin/env python
"""Concatenate JSONL shards (the PseudoLabel realizations: corpus x language x chunk) into one file,
in the order given, with a stats JSON of rows per shard and the shards' own stats beside them.

    python tasks/merge_jsonl.py --inputs shard1/pseudo_st.jsonl shard2/pseudo_st.jsonl --out all.jsonl --stats s.json
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.io import iter_jsonl, read_json, write_json, write_jsonl  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", nargs="+", required=True, help="JSONL files (a stats JSON beside each is read)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--stats", required=True)
    args = ap.parse_args(argv)
    twice = sorted({p for p in args.inputs if args.inputs.count(p) > 1})
    if twice:  # one shard's rows twice in the training data
        raise SystemExit(f"--inputs: {twice} given more than once; give each shard once")
    log = get_logger("merge_jsonl")
    counts = {}

    def rows():
        for path in args.inputs:
            n = 0
            for row in iter_jsonl(path):
                n += 1
                if not isinstance(row, dict):  # a row the IT mixture would reject much later
                    raise ValueError(f"{path}: row {n} is a JSON {type(row).__name__}, not an object; "
                                     "the shard is not an IT JSONL: rerun the task that wrote it")
                yield row
            counts[path] = n
            log_read(log, "shard", path, f"{n} rows")

    total = write_jsonl(args.out, rows())
    shard_stats = {}
    for path in args.inputs:
        for name in ("pseudo_stats.json", "stats.json"):
            if (Path(path).parent / name).is_file():
                shard_stats[path] = read_json(Path(path).parent / name)
                break
    write_json(args.stats, {"rows": total, "shards": counts, "shard_stats": shard_stats})
    log_wrote(log, "merged", args.out, f"{total} rows from {len(args.inputs)} shards")


if __name__ == "__main__":
    main()
