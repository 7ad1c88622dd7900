#!/usr/bin/env python
"""Table 8's tasks (spire/tower_tasks.py): post-editing (APE) and named-entity recognition (NER) on
TowerEval-Data-v0.1, zero-shot ChatML prompts for tasks/decode.py, and NER's span F1.

  prompts   TowerEval subtask -> prompts.jsonl ({"id", "prompt", "chat": true}), and beside it the
            lines that scoring reads: APE sources and references (score_mt.py: COMET-22), NER
            gold labels (one JSON list per line)
  score-ner hypotheses (one ("token", "label") list per line) + gold labels -> scores JSON
            {"f1", "precision", "recall", "f1_per_type", "n", "metric": "ner", "testset"}

Examples:
  python tasks/tower_task.py prompts --data MIRROR/raw/towereval --task ape --lang en-de \\
      --prompts prompts.jsonl --sources src.txt --refs ref.txt
  python tasks/tower_task.py score-ner --hyps hyps.txt --refs ref.txt --testset "multiconer2023 ner en" \\
      --out scores.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import tower_tasks as tt  # noqa: E402
from spire.eval_prompts import chatml  # noqa: E402
from spire.io import write_json, write_jsonl, write_lines  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402
from spire.prompts import load_templates  # noqa: E402

log = get_logger("tower_task")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("prompts", help="a TowerEval subtask as decode prompts")
    pr.add_argument("--data", required=True, help="TowerEval-Data-v0.1 (its raw_data folder or above)")
    pr.add_argument("--task", required=True, choices=tt.TASKS)
    pr.add_argument("--lang", required=True, help="APE: a pair (en-de); NER: a language (en)")
    pr.add_argument("--templates", help="prompt template file (its chatml_* keys; default: the IT one)")
    pr.add_argument("--prompts", required=True)
    pr.add_argument("--sources", required=True, help="APE: sources (COMET's); NER: the token lists")
    pr.add_argument("--refs", required=True, help="APE: references; NER: gold labels")
    sc = sub.add_parser("score-ner", help="span F1 of NER hypotheses")
    sc.add_argument("--hyps", required=True)
    sc.add_argument("--refs", required=True, help="gold labels from `prompts --task ner`")
    sc.add_argument("--testset", required=True, help="label of the score file")
    sc.add_argument("--out", required=True)
    return p.parse_args(argv)


def prompts(a) -> None:
    try:
        path = tt.subtask_file(a.data, a.task, tt.subtask_name(a.task, a.lang))
        templates = load_templates(a.templates)
        if a.task == "ape":
            src_lang, tgt_lang = a.lang.split("-")
            rows = tt.read_ape(path)
            texts = [tt.ape_prompt(r, src_lang, tgt_lang) for r in rows]
            sources, refs = [r.src for r in rows], [r.ref for r in rows]
        else:
            rows = tt.read_ner(path)
            texts = [tt.ner_prompt(r) for r in rows]
            sources = [json.dumps(r.tokens, ensure_ascii=False) for r in rows]
            refs = [json.dumps(r.tags, ensure_ascii=False) for r in rows]
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"tower_task: {e}")
    log_read(log, f"{a.task} test set", path, f"{len(rows)} rows")
    write_jsonl(a.prompts, ({"id": str(i), "prompt": chatml(templates, [{"role": "user", "content": t}]),
                             "chat": True} for i, t in enumerate(texts)))
    write_lines(a.sources, sources)
    write_lines(a.refs, refs)
    log_wrote(log, "prompts", a.prompts, f"{len(texts)} zero-shot ChatML prompts")


def score_ner(a) -> None:
    hyps, refs = tt.read_ner_scoring(a.hyps, a.refs)
    log_read(log, "hypotheses", a.hyps, f"{len(hyps)} lines")
    try:
        scores = tt.span_f1(refs, hyps)
    except ValueError as e:
        raise SystemExit(f"tower_task: {a.hyps} against {a.refs}: {e}")
    # the files scored, so that the results step can rebuild per-sentence spans (intervals)
    scores.update(metric="ner", testset=a.testset, hyps=str(Path(a.hyps).resolve()),
                  refs=str(Path(a.refs).resolve()))
    write_json(a.out, scores)
    log_wrote(log, "scores", a.out, f"F1 {scores['f1']:.4f} over {scores['n']} sentences")


def main(argv=None) -> None:
    a = parse_args(argv)
    (prompts if a.cmd == "prompts" else score_ner)(a)


if __name__ == "__main__":
    main()
