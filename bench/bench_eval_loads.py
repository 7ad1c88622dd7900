#!/usr/bin/env python
"""How many times the evaluation loads a model: every decoding job loads its model (and starts
vLLM), every scoring job with COMET loads COMET-22. Counted from the ducttape engine's plan, so it
needs no run and no GPU; issue 32's "load a model once per job" is measured against these numbers.

    python bench/bench_eval_loads.py                   # paper.tape: -p released, -p eval
    python bench/bench_eval_loads.py --config rehearsal --plans released

Per plan it prints the jobs that load a model, by task, and the loads per model: the number a
one-load-per-model evaluation would bring down to about one decoding and one COMET load each.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# tasks whose every realization loads a decoding model (tasks/decode.py, decode_audio.py)
DECODERS = ("Decode", "CascadeST", "DecodeAudio", "DecodeTowerTask")


def tree(config: str, where: Path) -> Path:
    """workflows/ and configs/ copied to ``where`` with uservars.tconf filled in (placeholder
    directories), paper.tape importing ``configs/<config>.tconf``."""
    shutil.copytree(ROOT / "workflows", where / "workflows", ignore=shutil.ignore_patterns("out", ".resume"))
    shutil.copytree(ROOT / "configs", where / "configs", ignore=shutil.ignore_patterns("uservars.tconf"))
    text = (where / "configs" / "uservars.tconf.TEMPLATE").read_text()
    for path in sorted(set(re.findall(r"/path/to/\S+", text))):
        (where / "user" / path[len("/path/to/"):]).mkdir(parents=True, exist_ok=True)
        text = text.replace(path, str(where / "user" / path[len("/path/to/"):]))
    (where / "configs" / "uservars.tconf").write_text(text)
    tape = where / "workflows" / "paper.tape"
    if config != "paper":
        tape.write_text(tape.read_text().replace('"../configs/paper.tconf"', f'"../configs/{config}.tconf"\n'
                                                 'import "../configs/uservars.tconf"'))
    return tape


def model_name(path: str) -> str:
    """``FetchHubModel/HubModel.spire_full`` for OUT/FetchHubModel/HubModel.spire_full/model."""
    p = Path(path)
    return "/".join(p.parts[-3:-1]) if p.name == "model" else p.name


def loads(tape: Path, plan: str) -> tuple[Counter, Counter]:
    """(jobs that load a model by task, loads by model) of ``plan``."""
    from ducttape.workflow import Workflow

    wf = Workflow(str(tape), None, None)
    by_task, by_model = Counter(), Counter()
    for r in wf.plan([plan]):
        env = dict(r.env())
        name = r.task.name
        if name in DECODERS:
            by_task[name] += 1
            by_model[model_name(env.get("model", "?"))] += 1
        elif name in ("Score", "ScoreTowerTask") and env.get("comet_model") and (
                env.get("eval_task") in ("st", "mt") or env.get("tower_task") == "ape"):
            by_task[f"{name} (COMET)"] += 1
            by_model["COMET: " + env["comet_model"]] += 1
    return by_task, by_model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="paper", help="paper (default) or rehearsal")
    ap.add_argument("--plans", nargs="+", default=["released", "eval"])
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tape = tree(a.config, Path(tmp))
        for plan in a.plans:
            by_task, by_model = loads(tape, plan)
            total = sum(by_task.values())
            print(f"{a.config} -p {plan}: {total} model loads in {total} jobs, "
                  f"{len(by_model)} distinct models ({total / max(len(by_model), 1):.1f} loads per model)")
            for task, n in sorted(by_task.items()):
                print(f"  {task:24s} {n}")
            for model, n in by_model.most_common(5):
                print(f"  most loaded: {model} x{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
