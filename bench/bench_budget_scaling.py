#!/usr/bin/env python
"""What more training buys the miniature: the demo's base LM and its CPT retrained for k times
their steps, from a finished `make demo` (its tokenizer, corpora, extended model and test set),
each scored zero-shot in its training format on the demo's 200 unseen test sentences: MT chrF
(`English: ...\\nToyish:`, ty and rv) after the base LM, ASR WER (`Speech: ...\\nEnglish:`) after
the CPT. Factor 1 is the demo's own budget, retrained in the same run as the baseline.

Only the step count changes: every other training option (rows, batch, lr and its schedule, seed)
and the base LM's shape are read from the demo's own runs (their train_summary.json and
config.json), so k > 1 means more epochs over the same corpus; one thread per run, --jobs runs at
a time. The CPT always starts from the demo's extended base, so its rows measure the CPT stage
alone. Issue 16 asks for ASR WER <= 35 and MT chrF >= 60 from SpireFull; these rows say how far
more steps of the same recipe go.

    make bench-scaling    # = python bench/bench_budget_scaling.py --factors 1 2 4, after make demo

Cost: about (sum of factors) x 15 core-minutes with the Dec 2026 budgets in bf16 (base LM 4,560
steps and CPT about 1,185 at 0.13-0.16 s a step on one thread; twice that in fp32), so `make bench`
leaves it out; reruns reuse finished runs under --work.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spire.log import get_logger  # noqa: E402

log = get_logger("bench_budget_scaling")
LANGS = ("ty", "rv")


def demo_paths(out: Path) -> dict[str, Path]:
    """The baseline realization's files of a finished demo (workflows/out)."""
    b = "Baseline.baseline"
    # the demo installs the shipped base LM (ShippedMiniBase: its training summary and tokenizer
    # travel with it); its corpus is built by the mini_world plan (`make mini-world`)
    base = out / "TrainMiniBase" / b / "model"
    if not base.is_dir():
        base = out / "ShippedMiniBase" / b / "model"
    paths = {
        "tokenizer": out / "TrainMiniTokenizer" / b / "tokenizer",
        "base_corpus": out / "BuildMiniBaseData" / b / "docs.jsonl",
        "base_summary": base / "train_summary.json",
        "extended": out / "ExtendModel" / b / "model",
        "cpt_corpus": out / "PackCPT" / b / "packed",  # what TrainCPT read (--train-data)
        "cpt_summary": out / "TrainCPT" / b / "model" / "train_summary.json",
        "test_units": out / "LabelSpeech" / "SpeechCorpus.test" / "units.txt",
        "test_text": out / "LabelSpeech" / "SpeechCorpus.test" / "text.txt",
        "test_en": out / "MakeMiniSentences" / b / "sentences" / "test.txt",
    }
    paths.update({f"test_{lang}": out / "MakeMiniText" / b / "text" / f"test.{lang}" for lang in LANGS})
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        sys.exit(f"{out}: not a finished demo (missing {', '.join(missing)}); run `make demo` first, "
                 "and for the base LM's tokenizer and corpus `cd workflows && ducttape main.tape "
                 "-p mini_world -y` (`make mini-world` runs it)")
    return paths


def sh(args: list, log_file: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=str(ROOT))
    with open(log_file, "a") as f:
        r = subprocess.run([sys.executable, *map(str, args)], env=env, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        sys.exit(f"{args[0]} failed (exit {r.returncode}); see {log_file}")


# train_lm.py options of the demo's run that the retraining keeps (train_summary.json "options")
KEPT_OPTIONS = ("micro_batch", "grad_accum", "lr", "min_lr_ratio", "warmup_steps",
                "warmup_ratio", "weight_decay", "max_grad_norm", "seed")


def train(model: Path, data: list, steps: int, demo: dict, out: Path, log_file: Path) -> None:
    """train_lm.py from ``model`` on ``data`` (its corpus flag and path) for ``steps``, with the
    options of the demo's run ``demo`` (a train_summary.json)."""
    if (out / "train_summary.json").is_file():
        log.info("reusing %s (finished earlier)", out)
        return
    log.info("training %d steps from %s on %s -> %s (progress: %s)", steps, model, data[1], out, log_file)
    kept = [a for k in KEPT_OPTIONS for a in ("--" + k.replace("_", "-"), demo["options"][k])]
    # rows as the demo's (--seq-len is None in the options of a run from packed data)
    sh([ROOT / "tasks" / "train_lm.py", "--model", model, *data, "--output-dir", out,
        "--seq-len", demo["global_batch"]["seq_len"], "--max-steps", steps, "--torch-threads", 1,
        *kept], log_file)


def decode(model: Path, prompts: Path, hyps: Path, log_file: Path) -> None:
    sh([ROOT / "tasks" / "decode.py", "--model", model, "--prompts", prompts, "--out", hyps,
        "--stop-newline", "--max-new-tokens", 48, "--batch-size", 32], log_file)


def base_run(p: dict, factor: float, demo: dict, work: Path) -> dict:
    """Base LM from scratch for factor x the demo's steps; zero-shot MT chrF per toy language."""
    from spire.metrics import bleu_chrf
    d = work / f"base_x{factor:g}"
    d.mkdir(parents=True, exist_ok=True)
    lg = d / "log.txt"
    if not (d / "init").is_dir():
        shape = json.loads((p["base_summary"].parent / "config.json").read_text())  # the demo's base LM
        sh([ROOT / "tasks" / "init_llama.py", "--tokenizer", p["tokenizer"],
            "--hidden-size", shape["hidden_size"], "--layers", shape["num_hidden_layers"],
            "--heads", shape["num_attention_heads"], "--kv-heads", shape["num_key_value_heads"],
            "--intermediate-size", shape["intermediate_size"],
            "--max-positions", shape["max_position_embeddings"],
            "--seed", demo["options"]["seed"], "--out", d / "init"], lg)
    steps = round(factor * demo["global_step"])
    train(d / "init", ["--train-file", p["base_corpus"]], steps, demo, d / "model", lg)
    row = {"stage": "base LM", "factor": factor, "steps": steps}
    for lang in LANGS:
        prompts, hyps = d / f"mt_{lang}.jsonl", d / f"mt_{lang}.hyps"
        sh([ROOT / "tasks" / "build_prompts.py", "--task", "mt", "--style", "base", "--shots", 0,
            "--source", p["test_en"], "--src-lang", "en", "--tgt-lang", lang, "--out", prompts], lg)
        decode(d / "model", prompts, hyps, lg)
        refs = p[f"test_{lang}"].read_text().splitlines()
        row[f"mt_chrf_{lang}"] = bleu_chrf(hyps.read_text().splitlines(), refs)["chrf"]
    return row


def cpt_run(p: dict, factor: float, demo: dict, work: Path) -> dict:
    """CPT from the demo's extended base for factor x the demo's steps; zero-shot ASR WER."""
    from spire.metrics import word_error_rate
    d = work / f"cpt_x{factor:g}"
    d.mkdir(parents=True, exist_ok=True)
    lg = d / "log.txt"
    steps = round(factor * demo["global_step"])
    train(p["extended"], ["--train-data", p["cpt_corpus"]], steps, demo, d / "model", lg)
    prompts, hyps = d / "asr.jsonl", d / "asr.hyps"
    sh([ROOT / "tasks" / "build_prompts.py", "--task", "asr", "--style", "base", "--shots", 0,
        "--units", p["test_units"], "--out", prompts], lg)
    decode(d / "model", prompts, hyps, lg)
    wer = word_error_rate(hyps.read_text().splitlines(), p["test_text"].read_text().splitlines())
    return {"stage": "CPT", "factor": factor, "steps": steps, "asr_wer": wer["wer"]}


def table(rows: list[dict]) -> str:
    """Markdown rows, each with its difference to the factor-1 run of its stage."""
    base = {r["stage"]: r for r in rows if r["factor"] == 1}
    out = ["| stage | steps (x demo) | zero-shot MT chrF ty / rv | zero-shot ASR WER |",
           "|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["stage"], r["factor"])):
        b = base[r["stage"]]
        if r["stage"] == "CPT":
            cell = f"{r['asr_wer']:.1f} ({r['asr_wer'] - b['asr_wer']:+.1f})"
            out.append(f"| CPT | {r['steps']} (x{r['factor']:g}) | | {cell} |")
        else:
            cell = " / ".join(f"{r[f'mt_chrf_{lg}']:.1f} ({r[f'mt_chrf_{lg}'] - b[f'mt_chrf_{lg}']:+.1f})"
                              for lg in LANGS)
            out.append(f"| base LM | {r['steps']} (x{r['factor']:g}) | {cell} | |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-out", default=str(ROOT / "workflows" / "out"),
                    help="a finished demo's output directory")
    ap.add_argument("--work", help="scratch directory, finished runs reused (default: "
                                   "DEMO_OUT/budget_scaling, beside results_seeds)")
    ap.add_argument("--factors", type=float, nargs="+", default=[1, 2, 4])
    ap.add_argument("--stages", nargs="+", choices=["base", "cpt"], default=["base", "cpt"])
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (one thread each)")
    a = ap.parse_args()
    if 1 not in a.factors:
        a.factors = [1.0, *a.factors]  # the demo's own budget is the baseline of every figure
    p = demo_paths(Path(a.demo_out))
    demo = {s: json.loads(p[f"{s}_summary"].read_text()) for s in ("base", "cpt")}
    work = Path(a.work or Path(a.demo_out) / "budget_scaling")
    runs = [(s, f) for s in a.stages for f in sorted(a.factors, reverse=True)]  # longest first
    fn = {"base": base_run, "cpt": cpt_run}
    with ThreadPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(lambda sf: fn[sf[0]](p, sf[1], demo[sf[0]], work), runs))
    (work / "results.json").write_text(json.dumps(rows, indent=2))
    log.info("wrote %s (%d runs)", work / "results.json", len(rows))
    print(table(rows))
    print(f"baseline: the demo's budgets (x1), retrained here; wrote {work / 'results.json'}")


if __name__ == "__main__":
    main()
