#!/usr/bin/env python
"""Training step of the miniature's Llama ("mini" preset, rows 4 x 256 packed with documents of
64 tokens, bf16 autocast where the CPU has bf16 instructions, AdamW) with torch's sdpa attention
(the baseline, transformers' default and what the workflow trains with) and with eager attention
(`tasks/train_lm.py --attn-implementation eager`), in the same run, alternating, on one and on two
threads. Prints the median milliseconds per step of each, the speed-up, and the loss of both after
the same steps on the same batches.

Not adopted (docs/miniature.md, "Tenth look"): on an AMD CPU with AVX512-BF16 and no AMX, eager
trained the demo's CPT and IT (one thread each) 1.15-1.22x as fast, but a whole `make demo` with
it everywhere gave a base LM that translated 3-shot at chrF 78.1 / 89.5 against 93.7 / 97.0 with
sdpa (same steps, same CPU; the base LM, on two threads, was no faster). In bf16 autocast eager
rounds the attention logits to bf16 before the softmax, where the fused kernel keeps them in fp32.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_precision import run  # noqa: E402  (the same step, model and batches)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--vocab", type=int, default=768, help="the demo's tokenizer + units, padded")
    p.add_argument("--doc-len", type=int, default=64, help="tokens per packed document")
    args = p.parse_args()
    from spire.training import cpu_has_bf16
    precision = "bf16" if cpu_has_bf16() else "fp32"
    print(f"{precision}; {args.steps} steps, {args.repeats} repeats alternating, documents of "
          f"{args.doc_len} tokens", flush=True)
    for threads in args.threads:
        res = {"sdpa": [], "eager": []}
        for r in range(args.repeats):
            for attn in res:
                sec, loss = run(precision, args.steps, threads, args.vocab, seed=r, attn=attn,
                                doc_len=args.doc_len)
                res[attn].append((sec, loss))
                print(f"  {threads} thread(s), repeat {r}, {attn}: {sec * 1000:.0f} ms/step, "
                      f"final loss {loss:.3f}", flush=True)
        sdpa = statistics.median(s for s, _ in res["sdpa"])
        eager = statistics.median(s for s, _ in res["eager"])
        dloss = statistics.mean(e[1] - s[1] for s, e in zip(res["sdpa"], res["eager"]))
        print(f"{threads} thread(s): sdpa (baseline) {sdpa * 1000:.0f} ms/step; eager "
              f"{eager * 1000:.0f} ms/step; speed-up {sdpa / eager:.2f}x; final loss eager - sdpa "
              f"{dloss:+.3f}", flush=True)


if __name__ == "__main__":
    main()
