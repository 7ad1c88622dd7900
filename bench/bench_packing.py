#!/usr/bin/env python
"""Tokens per second of tasks/train_lm.py with packing vs padding (no packing), same run.

Both arms train the same randomly initialised tiny Llama on the same IT-style corpus (variable
length conversations, as in instruction tuning) with the same micro-batch and step count; the
figure is real (non-padding) tokens per second as logged in train_summary.json.
Goal (issue 4): packing >= 1.5x the padding baseline on CPU.

  python bench/bench_packing.py [--examples 1200] [--steps 40] [--seq-len 512]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=1200)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--preset", default="mini")
    args = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    from tests.spire.lm_fixtures import build_base_tokenizer, toy_sentences
    from spire.tokenizer_ext import extend_tokenizer
    from spire.units import units_to_text
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = build_base_tokenizer(tmp / "base")
        extend_tokenizer(base, tmp / "tok", 100, instruct=True)
        sents = toy_sentences(args.examples, seed=1)
        with open(tmp / "it.jsonl", "w") as f:
            for s in sents:  # ASR-like: a unit string of varying length, then the transcript
                units = units_to_text(rng.randrange(100) for _ in range(rng.randint(10, 200)))
                f.write(json.dumps({"messages": [
                    {"role": "user", "content": f"Speech: {units}\nEnglish:"},
                    {"role": "assistant", "content": s}]}) + "\n")
        subprocess.run([sys.executable, REPO / "tasks/init_llama.py", "--tokenizer", tmp / "tok",
                        "--preset", args.preset, "--out", tmp / "init"], env=env, check=True,
                       capture_output=True)
        res = {}
        for arm, extra in (("padding", ["--no-packing"]), ("packing", [])):
            subprocess.run([sys.executable, REPO / "tasks/train_lm.py", "--model", tmp / "init",
                            "--train-file", tmp / "it.jsonl", "--output-dir", tmp / arm,
                            "--seq-len", str(args.seq_len), "--micro-batch", str(args.micro_batch),
                            "--max-steps", str(args.steps), "--logging-steps", "10",
                            "--save-steps", "100000", "--torch-threads", "1", *extra],
                           env=env, check=True, capture_output=True)
            s = json.loads((tmp / arm / "train_summary.json").read_text())
            res[arm] = s
            print(f"{arm:8s}: {s['tokens_per_second_this_run']:9.0f} real tokens/s "
                  f"({s['corpus']['rows']} rows, fill {s['corpus']['fill']:.2f}, "
                  f"{s['wall_seconds_this_run']:.1f} s for {s['global_step']} steps)")
        ratio = res["packing"]["tokens_per_second_this_run"] / res["padding"]["tokens_per_second_this_run"]
        print(f"packing / padding (baseline, same run): {ratio:.2f}x  (goal >= 1.5x)")


if __name__ == "__main__":
    main()
