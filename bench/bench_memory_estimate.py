#!/usr/bin/env python
"""The resource plan's memory estimator (spire/resources.py) against measured peaks.

    python bench/bench_memory_estimate.py            # small shapes on CPU + the 7B shape, fake
    python bench/bench_memory_estimate.py --quick    # fake tensors only (seconds)

(a) small Llama shapes, real tensors on CPU: peak bytes of forward + backward (2 micro-batches of
accumulation) + AdamW step as DeepSpeed keeps the states in one process (bf16 model, fp32 master
weights and moments), tracked by torch's MemTracker, against estimate_memory() for the same shape
as ZeRO-2 on one GPU with no buckets and no runtime overhead.
(b) the real 7B width (4096 hidden, 11008 intermediate, 37056 rows) at the paper's micro-batches,
under FakeTensorMode (no storage, no compute): 1 and 2 layers measured, 32 extrapolated with the
per-layer difference; forward + backward only (bf16 weights and gradients), since on one process
the 7B optimizer states would hide the activation peak (ZeRO shards them on the real jobs). The
model-state part at 7B is checked against DeepSpeed's estimators in tests/spire/test_resources.py.
Prints estimated vs measured and the relative error (positive = the estimate is above).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.resources import (GiB, ModelShape, estimate_memory, measure_peak,  # noqa: E402
                             one_process_setup)

SMALL = [  # (shape, micro_batch, seq_len)
    (ModelShape(256, 4, 4, 4, 688, 8000), 2, 512),
    (ModelShape(512, 4, 8, 8, 1376, 37056), 1, 1024),
    (ModelShape(384, 4, 6, 2, 1024, 16000), 4, 256),
]
TOWER = ModelShape(4096, 32, 32, 32, 11008, 37056)  # TowerBase-7B + 5000 units (spire/resources.py)
REAL = [(TOWER, 8, 2048), (TOWER, 12, 4096), (TOWER, 4, 4096)]  # CPT, IT as in paper.tconf, IT at 4


def row(name, est, meas):
    print(f"{name:<58} est {est / 2**20:10.1f} MiB  measured {meas / 2**20:10.1f} MiB  "
          f"error {(est - meas) / meas:+6.1%}", flush=True)


def small(fake: bool) -> list[float]:
    errs = []
    for shape, mb, seq in SMALL:
        for ckpt in (False, True):
            t0 = time.time()
            meas = measure_peak(shape, mb, seq, ckpt, fake=fake)["Total"]
            est = estimate_memory(shape, one_process_setup(mb, seq, ckpt), overhead=0).total
            row(f"h{shape.hidden} L{shape.layers} kv{shape.kv_heads}/{shape.heads} V{shape.vocab} "
                f"{mb}x{seq} ckpt={ckpt} ({time.time() - t0:.0f} s)", est, meas)
            errs.append((est - meas) / meas)
    return errs


def real() -> list[float]:
    errs = []
    for shape, mb, seq in REAL:
        one, two = (measure_peak(replace(shape, layers=n), mb, seq, True, fake=True, grad_accum=2,
                                 optimizer=False)["Total"] for n in (1, 2))
        meas = one + (shape.layers - 1) * (two - one)
        e = estimate_memory(shape, one_process_setup(mb, seq, True), overhead=0)
        est = 4 * shape.params() + e.activations + e.loss  # bf16 weights + grads, no optimizer
        row(f"7B width, {shape.layers} layers (from 1, 2), {mb}x{seq} ckpt, fake, fwd+bwd", est, meas)
        errs.append((est - meas) / meas)
    return errs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fake tensors for the small shapes too")
    a = ap.parse_args()
    print("(a) small shapes," + (" fake tensors" if a.quick else " real tensors on CPU"))
    errs = small(fake=a.quick)
    print("(b) the real 7B width, FakeTensorMode")
    errs += real()
    print(f"relative error: {min(errs):+.1%} .. {max(errs):+.1%} (positive = estimate above the "
          "measured peak; DeepSpeed's model-state formula counts fp32 gradients that exist only "
          "at the optimizer step, 4 bytes/param/GPU)")


if __name__ == "__main__":
    main()
