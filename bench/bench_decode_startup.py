#!/usr/bin/env python
"""Start-up of a decoding task: `tasks/decode.py` as the eval tape runs it, with scikit-learn kept
out of the process (the default) against the baseline that lets transformers import it
(SPIRE_DECODE_SKLEARN=1), in the same run, alternating, on a tiny random Llama built here (CPU,
one thread); the outputs of both must be identical. Prints the median wall time of each and the
saving per task.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "spire"))  # the tiny-model builder shared with the tests

from eval_fixtures import build_tiny_llama, local_sentences  # noqa: E402


def run(model: Path, prompts: Path, out: Path, sklearn: bool) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               SPIRE_DECODE_SKLEARN="1" if sklearn else "0", PYTHONPATH=str(ROOT))
    t = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "tasks" / "decode.py"), "--model", str(model),
                    "--prompts", str(prompts), "--out", str(out), "--stop-newline",
                    "--max-new-tokens", "8", "--batch-size", "32"],
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--prompts", type=int, default=20)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_llama(tmp / "model")
        prompts = tmp / "prompts.jsonl"
        prompts.write_text("".join(json.dumps({"id": str(i), "prompt": s}) + "\n"
                                   for i, s in enumerate(local_sentences(a.prompts))))
        times = {False: [], True: []}
        for r in range(a.repeats):
            for sk in (True, False):
                times[sk].append(run(model, prompts, tmp / f"hyps.{sk}.{r}.txt", sk))
        same = all((tmp / f"hyps.True.{r}.txt").read_text() == (tmp / f"hyps.False.{r}.txt").read_text()
                   for r in range(a.repeats))
    base, new = statistics.median(times[True]), statistics.median(times[False])
    print(f"decode.py start-up + {a.prompts} prompts, median of {a.repeats}: "
          f"{new:.2f} s without scikit-learn, {base:.2f} s with it (baseline); "
          f"saves {base - new:.2f} s per task ({100 * (base - new) / base:.0f}%); identical outputs: {same}")
    if not same:
        sys.exit("outputs differ")


if __name__ == "__main__":
    main()
