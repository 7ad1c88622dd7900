#!/usr/bin/env python
"""BuildCPTData's memory does not grow with the corpus: peak RSS of tasks/build_cpt_data.py on four
ASR corpora (plus parallel and monolingual text) of N and 4N lines each, streamed, against the
baseline of the same run that holds every document in a list (what the mixer did before).

    python bench/bench_cpt_memory.py --lines 20000
Prints peak RSS (MiB) per size for the streamed task and for the in-memory baseline.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_UNITS = 200

# peak RSS of one child python process running CODE (argv after it)
CHILD = r"""
import resource, sys, runpy
sys.argv = sys.argv[1:]
if sys.argv[0] == "baseline":
    from transformers import AutoTokenizer
    from spire import cpt_data as cd
    tok = AutoTokenizer.from_pretrained(sys.argv[1])
    corpora = sys.argv[2:]
    srcs = [cd.asr_source(f"{c}/units.txt", f"{c}/text.txt") for c in corpora]
    held = [d for s in srcs for d in s.documents]  # every document in memory, as before
    cd.count_tokens(tok, held)
else:
    runpy.run_path(sys.argv[0], run_name="__main__")
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def make_corpora(root: Path, lines: int, seed: int = 0) -> list[Path]:
    from spire.units import units_to_text

    rng = random.Random(seed)
    out = []
    for name in ("CPTCorpus.spgi", "CPTCorpus.gigaspeech", "CPTCorpus.mls", "CPTCorpus.voxpopuli"):
        d = root / name
        d.mkdir(parents=True)
        with open(d / "units.txt", "w") as u, open(d / "text.txt", "w") as t:
            for i in range(lines):
                # about 10 s of speech: 350 deduplicated units; an unreadable clip now and then
                u.write("" if i % 997 == 5 else units_to_text([rng.randrange(N_UNITS) for _ in range(350)]))
                u.write("\n")
                t.write(" ".join(rng.choice(("the", "a", "river", "market", "said", "today")) for _ in range(25)) + "\n")
        out.append(d)
    return out


def peak_mib(args: list[str]) -> float:
    proc = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    return int(proc.stdout.split("PEAK_KIB")[-1]) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=20000, help="lines per corpus at the small size")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "spire"))  # the toy tokenizer shared with the tests
    from lm_fixtures import build_base_tokenizer

    from spire.tokenizer_ext import extend_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "sp").mkdir()
        build_base_tokenizer(tmp / "sp" / "base")
        extend_tokenizer(tmp / "sp" / "base", tmp / "tok", N_UNITS)
        old_unused = None  # noqa: F841
        print(tmp / "base", tmp / "tok", N_UNITS)
        print(f"{'lines/corpus':>12} {'documents':>10} {'streamed MiB':>13} {'in-memory MiB':>14}")
        for n in (a.lines, 4 * a.lines):
            root = tmp / f"n{n}"
            corpora = make_corpora(root, n)
            asr = [x for c in corpora for x in ("--asr", c / "units.txt", c / "text.txt")]
            streamed = peak_mib([ROOT / "tasks" / "build_cpt_data.py", "--tokenizer", tmp / "tok", *asr,
                                 "--mono", corpora[0] / "text.txt", "--weights", "asr=0.9", "mono=0.1",
                                 "--out", root / "cpt.jsonl", "--stats", root / "stats.json"])
            held = peak_mib(["baseline", tmp / "tok", *corpora])
            print(f"{n:>12} {4 * n:>10} {streamed:>13.0f} {held:>14.0f}")


if __name__ == "__main__":
    main()
