#!/usr/bin/env python
"""Memory and speed of the training data path: tasks/pack_corpus.py (stream, tokenise in
--num-proc processes, memory-mapped rows) against the old in-memory path (spire.training.build_rows,
then Dataset.from_list, as tasks/train_lm.py did before step 1), on generated CPT corpora of unit
documents ("Speech: <units>\\nEnglish: <text>") of about 1.6M and 16M tokens, in the same run.
Then the trainer's first steps reading the packed data of each size.

Every arm runs in its own process (imports not timed), started from this small process (the
corpora are made in a child too: Linux keeps a child's ru_maxrss from before its exec); peak RSS
is that process's ru_maxrss plus the largest of its worker processes (the packer's), an upper
bound of what it held at once.
Goals (issue 13): packing RSS grows <= 1.3x for 10x the corpus; trainer RSS with 16M tokens within
300 MB of its RSS with 1.6M; packing >= 2x the old 1.2M tokens/s on 2 cores.

  python bench/bench_data.py [--tokens 1.6e6 16e6] [--num-proc 2] [--seq-len 2048] [--steps 5]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

N_UNITS = 500

# the child processes: each prints one JSON line with its figures
CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
arm, args = sys.argv[1], json.loads(sys.argv[2])
if arm == "old":  # imports are not timed
    from transformers import AutoTokenizer
    from spire.training import build_rows
    from datasets import Dataset
    tok = AutoTokenizer.from_pretrained(args["tokenizer"])
    t0 = time.time()
    rows, stats = build_rows(tok, args["corpus"], args["seq_len"])
    Dataset.from_list(rows)  # what train() did next (a second copy, in Arrow)
    out = {{"tokens": stats["tokens"], "rows": stats["rows"]}}
elif arm == "pack":
    from spire.packed import pack_corpus
    t0 = time.time()  # from here: tokenizer loading, worker start-up, reading, packing, writing
    # (CPT packing imports no transformers/torch: its RSS is the packer's own)
    meta = pack_corpus(args["tokenizer"], [args["corpus"]], args["seq_len"], args["out"],
                       num_proc=args["num_proc"], progress=False)
    out = {{"tokens": meta["stats"]["tokens"], "rows": meta["stats"]["rows"]}}
elif arm == "setup":  # tokenizer, tiny model and corpora, made here so that the bench's own
    # process stays small: Linux keeps a child's ru_maxrss from before its exec (the parent's size)
    import subprocess
    from pathlib import Path
    from transformers import AutoTokenizer
    from tests.spire.lm_fixtures import build_base_tokenizer
    from spire.tokenizer_ext import extend_tokenizer
    sys.path.insert(0, {repo!r} + "/bench")
    from bench_data import N_UNITS, make_corpus
    tmp = Path(args["tmp"])
    extend_tokenizer(build_base_tokenizer(tmp / "base"), tmp / "tok", N_UNITS)
    tok = AutoTokenizer.from_pretrained(tmp / "tok")
    subprocess.run([sys.executable, {repo!r} + "/tasks/init_llama.py", "--tokenizer", str(tmp / "tok"),
                    "--preset", "tiny", "--out", str(tmp / "init")], check=True, capture_output=True)
    out = {{name: make_corpus(tmp / f"cpt-{{name}}.jsonl", tok, n) for name, n in args["sizes"].items()}}
    print("RESULT " + json.dumps(out))
    sys.exit(0)
else:  # train: the real trainer on the packed directory, a few steps
    from spire.training import TrainOptions, train
    t0 = time.time()
    train(TrainOptions(model=args["model"], train_data=args["data"], output_dir=args["out"],
                       micro_batch=args["micro_batch"], max_steps=args["steps"], logging_steps=1,
                       save_steps=10**6, torch_threads=1, lr=1e-3))
    s = json.load(open(args["out"] + "/train_summary.json"))
    out = {{"tokens": s["tokens"], "rows": s["corpus"]["rows"],
            "train_tokens_per_second": s["tokens_per_second_this_run"]}}
wall = time.time() - t0
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("RESULT " + json.dumps({{**out, "seconds": wall, "rss_mb": (self_kb + kids_kb) / 1024,
                              "rss_main_mb": self_kb / 1024}}))
"""


def make_corpus(path: Path, tok, target_tokens: float, seed: int = 0) -> int:
    """CPT documents like BuildCPTData's ASR ones, written until ``target_tokens`` are reached."""
    from tests.spire.lm_fixtures import toy_sentences
    from spire.units import units_to_text
    rng = random.Random(seed)
    sents = toy_sentences(5000, seed=seed)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        while n < target_tokens:
            docs = [f"Speech: {units_to_text(rng.randrange(N_UNITS) for _ in range(rng.randint(100, 300)))}"
                    f"\nEnglish: {rng.choice(sents)}" for _ in range(1000)]
            n += sum(len(x) + 2 for x in tok(docs, add_special_tokens=False)["input_ids"])
            f.writelines(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs)
    return n


def run(arm: str, args: dict) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               SPIRE_LOG_LEVEL="WARNING")
    proc = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO)), arm, json.dumps(args)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{arm} failed:\n{proc.stderr[-3000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, nargs="+", default=[1.6e6, 16e6])
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--skip-old", action="store_true", help="no old-path arm (it needs ~3 GB at 16M)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sizes = {f"{target / 1e6:g}M": target for target in args.tokens}
        made = run("setup", {"tmp": str(tmp), "sizes": sizes})
        for name in sizes:
            corpus = tmp / f"cpt-{name}.jsonl"
            n = made[name]
            r = {"corpus_tokens": n, "corpus_mb": corpus.stat().st_size / 2**20}
            common = {"tokenizer": str(tmp / "tok"), "corpus": str(corpus), "seq_len": args.seq_len}
            if not args.skip_old:
                r["old"] = run("old", common)
            r["pack"] = run("pack", {**common, "out": str(tmp / f"packed-{name}"), "num_proc": args.num_proc})
            r["train"] = run("train", {"model": str(tmp / "init"), "data": str(tmp / f"packed-{name}"),
                                       "out": str(tmp / f"model-{name}"), "steps": args.steps,
                                       "micro_batch": args.micro_batch})
            res[name] = r
            for arm in ("old", "pack", "train"):
                if arm in r:
                    a = r[arm]
                    extra = (f", {a['train_tokens_per_second']:.0f} train tokens/s" if arm == "train"
                             else f", {a['tokens'] / a['seconds'] / 1e6:.2f}M tokens/s")
                    print(f"{name:>6s} {arm:5s}: peak RSS {a['rss_mb']:7.0f} MB (main {a['rss_main_mb']:.0f}), "
                          f"{a['seconds']:6.1f} s{extra}", flush=True)
    names = list(res)
    if len(names) >= 2:
        small, big = res[names[0]], res[names[-1]]
        growth = big["pack"]["rss_mb"] / small["pack"]["rss_mb"]
        print(f"packing peak RSS {names[-1]} / {names[0]}: {growth:.2f}x (goal <= 1.3x)")
        if "old" in small:
            print(f"old path peak RSS {names[-1]} / {names[0]}: "
                  f"{big['old']['rss_mb'] / small['old']['rss_mb']:.2f}x")
        print(f"trainer peak RSS {names[-1]} - {names[0]}: "
              f"{big['train']['rss_mb'] - small['train']['rss_mb']:+.0f} MB (goal within 300 MB)")
    for name, r in res.items():
        pack_tps = r["pack"]["tokens"] / r["pack"]["seconds"]
        line = f"{name}: packing {pack_tps / 1e6:.2f}M tokens/s with {args.num_proc} processes"
        if "old" in r:
            old_tps = r["old"]["tokens"] / r["old"]["seconds"]
            line += (f" vs old path {old_tps / 1e6:.2f}M tokens/s in this run: {pack_tps / old_tps:.2f}x"
                     f"; vs the issue's 1.2M tokens/s: {pack_tps / 1.2e6:.2f}x (goal >= 2x)")
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
