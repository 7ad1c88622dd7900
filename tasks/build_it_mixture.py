#!/usr/bin/env python
"""Build one instruction-tuning mixture variant (full, no_blocks, no_pseudo) from its components.

    python tasks/build_it_mixture.py --config configs/it/mini.yaml --variant no_blocks \\
        --input asr=asr.jsonl --input st=st.jsonl --input pseudo_st=pseudo.jsonl \\
        --input blocks=mt.jsonl [--tokenizer TOKENIZER_DIR] \\
        --out it.jsonl --stats it.stats.json

Components the variant does not include need no --input; repeating --input for one component
concatenates its files (e.g. --input st=europarl.jsonl --input st=fleurs.jsonl). The output is
shuffled with the config's seed; the stats JSON counts examples and tokens per component, task,
group and source (the rows' "source" field); tokens with --tokenizer's chat template when given,
else approximated (see "token_count" in the JSON).
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from spire import mixtures
from spire.io import write_json, write_jsonl
from spire.log import get_logger, log_read, log_wrote


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="mixture YAML (configs/it/*.yaml)")
    parser.add_argument("--variant", required=True, help="variant name from the config (e.g. full)")
    parser.add_argument("--input", action="append", default=[], metavar="COMPONENT=PATH",
                        help="IT JSONL of a component (overrides its paths in the config); repeat, "
                        "also for the same component: its files are concatenated")
    parser.add_argument("--tokenizer", help="HF tokenizer folder to count tokens with")
    parser.add_argument("--out", required=True, help="output IT JSONL")
    parser.add_argument("--stats", required=True, help="output stats JSON")
    args = parser.parse_args(argv)

    log = get_logger("build_it_mixture")
    inputs = {}
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--input {item!r}: expected COMPONENT=PATH")
        if path in inputs.get(name, []):  # its rows would count twice, weighing it double unseen
            raise SystemExit(f"--input {item}: {path} given twice for component {name!r}; give each file once "
                             "(raise the component's weight in the config to repeat it)")
        inputs.setdefault(name, []).append(path)
    config = mixtures.load_mixture_config(args.config)
    log_read(log, "mixture config", args.config, f"variant {args.variant}")
    rows, info = mixtures.build_mixture(config, args.variant, inputs)
    for name, meta in info.items():
        log_read(log, f"component {name} ({meta['group']})", " + ".join(meta["paths"]),
                 f"{meta['available']} rows")
    count = method = None
    if args.tokenizer:
        count, method = mixtures.tokenizer_counter(args.tokenizer)
    stats = mixtures.mixture_stats(tqdm(rows, desc="count tokens", unit="row"), info, count, method)
    stats = {"variant": args.variant, "description": config["variants"][args.variant]["description"],
             "config": args.config, "seed": config["seed"], **stats}
    write_jsonl(args.out, rows)
    log_wrote(log, f"IT mixture {args.variant}", args.out, f"{len(rows)} conversations")
    write_json(args.stats, stats)
    log_wrote(log, "mixture stats", args.stats,
              f"{stats['total']['examples']} examples, {stats['total']['tokens']} tokens")


if __name__ == "__main__":
    main()
