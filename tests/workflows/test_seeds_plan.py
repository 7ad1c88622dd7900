"""The `seeds` plan (workflows/plans.tape) plans the eval plan's table once per Seed branch, with
the miniature world, the speech units and the evaluation prompts shared; the other plans do not
see the Seed branch point at all (their realizations are today's). Planning only (fast)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def listed(tmp_path: Path, plan: str) -> list[tuple[str, str]]:
    if not (tmp_path / "workflows").exists():
        shutil.copytree(REPO / "workflows", tmp_path / "workflows",
                        ignore=shutil.ignore_patterns("out", ".resume"))
        shutil.copytree(REPO / "configs", tmp_path / "configs",
                        ignore=shutil.ignore_patterns("uservars.tconf"))
    proc = subprocess.run([sys.executable, "-m", "ducttape", "main.tape", "-p", plan, "list"],
                          cwd=tmp_path / "workflows", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [tuple(line.split()[:2]) for line in proc.stdout.splitlines()
            if re.fullmatch(r"[A-Z]\w* \S+ (done|to-run)", line.strip())]


def test_seeds_plan_repeats_the_eval_table_per_seed_over_a_shared_world(tmp_path):
    evals, seeds = listed(tmp_path, "eval"), listed(tmp_path, "seeds")
    assert not any("Seed" in r for _, r in evals)  # the demo's directories keep their names
    per_seed = Counter(re.search(r"Seed\.(\d+)", r).group(1) if "Seed." in r else "42"
                       for t, r in seeds if t == "Score")
    n_eval = sum(t == "Score" for t, _ in evals)
    assert per_seed == {"42": n_eval, "43": n_eval, "44": n_eval}
    # seed 42 is the eval plan's own runs, directory for directory
    assert {x for x in seeds if "Seed." not in x[1]} == set(evals)
    counts, base = Counter(t for t, _ in seeds), Counter(t for t, _ in evals)
    for task in ("TrainCPT", "ExtendModel", "BuildCPTData", "BuildITSpeech", "PseudoLabel"):
        assert counts[task] == 3 * base[task] == 3, task
    assert counts["TrainIT"] == 3 * 4 and counts["Decode"] == 3 * base["Decode"]
    # shared by every seed: the world, the units, the tokenizer and the test prompts
    for task in ("MakeMiniSentences", "SynthMiniSpeech", "ShippedMiniBase", "TrainKMeans",
                 "LabelSpeech", "SplitMiniIT", "ExtendTokenizer", "BuildITBlocks", "BuildEvalPrompts"):
        assert counts[task] == base[task], task
