#!/usr/bin/env python
"""Training step of the miniature's Llama ("mini" preset, rows 4 x 256, AdamW) in fp32 (the
baseline) and in bf16 autocast with fp32 master weights (what `--precision bf16` asks the HF
Trainer for, and what `auto` now picks on a CPU with bf16 instructions), in the same run,
alternating. Prints the median milliseconds per step of each, the speed-up, and the loss of both
after the same steps on the same batches, so a speed-up that costs learning shows.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(precision: str, steps: int, threads: int, vocab: int, seed: int, attn: str = "sdpa",
        doc_len: int | None = None) -> tuple[float, float]:
    """(median seconds per step after two warm-up steps, mean loss of the last 5 steps).

    ``attn``: the attention implementation; ``doc_len``: position ids restart every ``doc_len``
    tokens, as in the packed rows of the real training (transformers then builds the
    block-diagonal mask), instead of one document per row."""
    import torch
    from transformers import LlamaForCausalLM
    from spire.mini.base_lm import llama_config

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    config = llama_config("mini", vocab)
    config._attn_implementation = attn
    model = LlamaForCausalLM(config)
    positions = torch.arange(256) if doc_len is None else torch.arange(256).remainder(doc_len)
    positions = positions.expand(4, 256)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    # a learnable stream: random "sentences" repeated, so the loss falls within a few dozen steps
    gen = torch.Generator().manual_seed(seed)
    pool = torch.randint(3, vocab, (64, 32), generator=gen)
    times, losses = [], []
    for step in range(steps):
        rows = pool[torch.randint(0, len(pool), (4, 8), generator=gen)].reshape(4, 256)
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(input_ids=rows, labels=rows, position_ids=positions).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t)
        losses.append(loss.item())
    return statistics.median(times[2:]), statistics.mean(losses[-5:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--vocab", type=int, default=768, help="the demo's tokenizer + units, padded")
    args = p.parse_args()
    from spire.training import cpu_has_bf16
    print(f"CPU bf16 instructions: {cpu_has_bf16()}; {args.threads} thread(s), {args.steps} steps, "
          f"{args.repeats} repeats alternating", flush=True)
    res = {"fp32": [], "bf16": []}
    for r in range(args.repeats):
        for precision in ("fp32", "bf16"):
            sec, loss = run(precision, args.steps, args.threads, args.vocab, seed=r)
            res[precision].append((sec, loss))
            print(f"  repeat {r} {precision}: {sec * 1000:.0f} ms/step, final loss {loss:.3f}", flush=True)
    fp32 = statistics.median(s for s, _ in res["fp32"])
    bf16 = statistics.median(s for s, _ in res["bf16"])
    dloss = statistics.mean(b[1] - f[1] for f, b in zip(res["fp32"], res["bf16"]))
    print(f"fp32 (baseline): {fp32 * 1000:.0f} ms/step; bf16 autocast: {bf16 * 1000:.0f} ms/step; "
          f"speed-up {fp32 / bf16:.2f}x; final loss bf16 - fp32 {dloss:+.3f}")


if __name__ == "__main__":
    main()
