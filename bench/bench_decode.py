#!/usr/bin/env python
"""Decoding throughput: batched Hugging Face generate vs batch size 1, same greedy outputs.

Measures generated tokens per second of spire.decoding's HF back-end on a small random Llama
(built here, CPU, one thread) for --batch-size vs the batch-size-1 baseline, in the same run,
and checks that both produce identical hypotheses. Goal: >= 3x.
(The vLLM vs HF comparison needs a GPU; this machine has none.)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "spire"))  # the tiny-model builder shared with the tests

from eval_fixtures import build_tiny_llama, local_sentences  # noqa: E402


def timed(tok, model, prompts, bs, new):
    from spire.decoding import eos_ids, iter_generate_hf

    hyps, stats = [None] * len(prompts), {}
    t = time.perf_counter()
    for idx, out in iter_generate_hf(tok, model, prompts, max_new_tokens=new, batch_size=bs,
                                     eos=eos_ids(tok), progress=False, stats=stats):
        for i, h in zip(idx, out):
            hyps[i] = h
    return hyps, time.perf_counter() - t, stats["generated_tokens"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--prompts", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    a = p.parse_args()

    import torch
    from spire.decoding import load_hf

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        model_dir = build_tiny_llama(Path(d) / "m", hidden_size=a.hidden, num_layers=a.layers)
        tok, model = load_hf(model_dir)
        prompts = local_sentences(a.prompts, seed=7)
        timed(tok, model, prompts[:2], 2, 4)  # warm-up
        base, t1, n1 = timed(tok, model, prompts, 1, a.max_new_tokens)
        batched, tb, nb = timed(tok, model, prompts, a.batch_size, a.max_new_tokens)
    n_params = sum(x.numel() for x in model.parameters())
    same = base == batched and n1 == nb
    print(f"model: random Llama, hidden {a.hidden}, {a.layers} layers, {n_params/1e6:.1f}M params, "
          f"CPU, 1 thread; {a.prompts} prompts, max {a.max_new_tokens} new tokens, greedy")
    print(f"baseline  batch size 1 : {n1 / t1:8.1f} generated tokens/s ({t1:.2f} s)")
    print(f"batched   batch size {a.batch_size:<2}: {nb / tb:8.1f} generated tokens/s ({tb:.2f} s)")
    print(f"generated tokens: {n1} (batch 1) vs {nb} (batched)")
    print(f"speed-up: {t1 / tb:.2f}x (goal >= 3x); identical hypotheses: {same}")
    if not same:
        diff = sum(x != y for x, y in zip(base, batched))
        print(f"WARNING: {diff} of {len(base)} hypotheses differ")
        sys.exit(1)


if __name__ == "__main__":
    main()
