#!/usr/bin/env python
"""Build decode-input JSONL (``{"id", "prompt", "chat"}`` per line, input order) for an evaluation task.

Tasks (docs/paper.md §5):
  asr          --units                          -> transcript
  st           --units --tgt-lang               -> direct speech translation
  mt           --source --src-lang --tgt-lang   -> MT; with --source = the model's ASR hypotheses
                                                   it is the self-cascaded ST second step, with
                                                   --source = gold transcripts it is gold MT
  st_two_turn  --units --asr-hyps --tgt-lang    -> multi-turn ST (instruct models only)

Instruct models (--style instruct): zero-shot, wrapped by the tokenizer's chat template
(--chat tokenizer --tokenizer DIR) or by ChatML from the template file (--chat chatml).
Base models (--style base): --shots N plain few-shot prompts drawn with --seed from a dev set
(--dev-units/--dev-source + --dev-target); decode them with a newline stop string.
"chat" is true for instruct prompts: tasks/decode.py then tokenises them as the IT rows were
(no BOS but the template's own), plain prompts as CPT documents (one BOS first).

Example:
  python tasks/build_prompts.py --task mt --style base --source flores.en --src-lang en \\
      --tgt-lang de --dev-source dev.en --dev-target dev.de --shots 5 --out prompts.jsonl
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import eval_prompts as ep  # noqa: E402
from spire.options import nonneg_int  # noqa: E402
from spire.io import read_lines, write_jsonl  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402
from spire.prompts import load_templates  # noqa: E402
from spire.units import UNIT_FORMATS, convert_units_text  # noqa: E402

log = get_logger("build_prompts")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=ep.TASKS)
    p.add_argument("--style", required=True, choices=("instruct", "base"),
                   help="instruct: zero-shot chat prompt; base: plain few-shot prompt")
    p.add_argument("--out", required=True, help="output JSONL of {id, prompt}")
    p.add_argument("--units", help="DSU file, one utterance per line (asr, st, st_two_turn)")
    p.add_argument("--units-format", choices=UNIT_FORMATS, default="pua",
                   help="format the prompts carry the units in (input format is detected)")
    p.add_argument("--source", help="source text file, one segment per line (mt)")
    p.add_argument("--asr-hyps", help="the model's ASR hypotheses (st_two_turn)")
    p.add_argument("--src-lang", default="en")
    p.add_argument("--tgt-lang", help="target language code (st, mt, st_two_turn)")
    p.add_argument("--ids", help="file of item ids, one per line (default: 0-based line numbers)")
    p.add_argument("--templates", help="prompt template JSON (default configs/prompts/spire.json)")
    p.add_argument("--chat", choices=("chatml", "tokenizer"), default="chatml",
                   help="instruct: render ChatML from the templates or use the tokenizer's template")
    p.add_argument("--tokenizer", help="tokenizer folder for --chat tokenizer")
    p.add_argument("--system", help="optional system message (instruct; default none, as Spire)")
    p.add_argument("--shots", type=nonneg_int, default=5, help="base: number of few-shot examples")
    p.add_argument("--seed", type=int, default=42, help="base: seed of the shot draws")
    p.add_argument("--same-shots", action="store_true",
                   help="base: one draw of shots for every item instead of a draw per item")
    p.add_argument("--dev-units", help="base: dev units file (asr, st shots)")
    p.add_argument("--dev-source", help="base: dev source file (mt shots)")
    p.add_argument("--dev-target", help="base: dev answers (transcripts or translations)")
    return p.parse_args(argv)


def read_aligned(named: dict[str, str | None]) -> dict[str, list[str]]:
    """Read the given files and check they have the same number of lines."""
    out = {}
    for name, path in named.items():
        if path:
            out[name] = read_lines(path)
            log_read(log, name, path, f"{len(out[name])} lines")
    counts = {f"{named[k]} ({k})": len(v) for k, v in out.items()}
    if len(set(counts.values())) > 1:
        raise ValueError("input files are not aligned: " + ", ".join(f"{k}: {n} lines"
                                                                      for k, n in counts.items()))
    return out


def main(argv=None) -> None:
    a = parse_args(argv)
    templates = load_templates(a.templates)
    need = {"asr": ["units"], "st": ["units"], "mt": ["source"], "st_two_turn": ["units", "asr_hyps"]}
    for name in need[a.task]:
        if not getattr(a, name):
            sys.exit(f"--task {a.task} needs --{name.replace('_', '-')}")
    data = read_aligned({"units": a.units if a.task != "mt" else None,
                         "source": a.source if a.task == "mt" else None,
                         "asr_hyps": a.asr_hyps if a.task == "st_two_turn" else None,
                         "ids": a.ids})
    n = len(data["source" if a.task == "mt" else "units"])
    if not n:  # else an empty prompts file, an empty hypothesis file and a meaningless score
        main_file = a.source if a.task == "mt" else a.units
        sys.exit(f"{main_file}: empty test set (no lines); nothing to prompt")
    if data.get("ids"):
        seen: dict[str, int] = {}
        for i, item_id in enumerate(data["ids"], 1):
            if item_id in seen:
                sys.exit(f"{a.ids}:{i}: id {item_id!r} already on line {seen[item_id]}; ids must be unique "
                         "(scores and the results table are keyed by them)")
            seen[item_id] = i
    units = [convert_units_text(u, a.units_format) for u in data["units"]] if "units" in data else None
    items = [ep.item_fields(a.task, units=units[i] if units else None,
                            src=data["source"][i] if "source" in data else None,
                            src_lang=a.src_lang, tgt_lang=a.tgt_lang) for i in range(n)]

    if a.style == "instruct":
        if a.chat == "tokenizer":
            if not a.tokenizer:
                sys.exit("--chat tokenizer needs --tokenizer DIR")
            from transformers import AutoTokenizer
            tok = AutoTokenizer.from_pretrained(a.tokenizer)
            log_read(log, "tokenizer", a.tokenizer)
            wrap = lambda msgs: ep.apply_tokenizer_template(tok, msgs)  # noqa: E731
        else:
            wrap = lambda msgs: ep.chatml(templates, msgs)  # noqa: E731
        hyps = data.get("asr_hyps")
        prompts = [wrap(ep.instruct_messages(templates, a.task, f, hyps[i] if hyps else None,
                                             a.system)) for i, f in enumerate(items)]
    else:
        shots = []
        if a.shots:
            dev_in = a.dev_source if a.task == "mt" else a.dev_units
            if not dev_in or not a.dev_target:
                sys.exit(f"--style base with --shots {a.shots} needs "
                         f"{'--dev-source' if a.task == 'mt' else '--dev-units'} and --dev-target")
            dev = read_aligned({"dev_in": dev_in, "dev_target": a.dev_target})
            # an empty line (unreadable dev audio, a FLEURS sentence without its FLORES match)
            # would teach an empty answer: such pairs are no shots
            pairs = [(x, y) for x, y in zip(dev["dev_in"], dev["dev_target"]) if x.strip() and y.strip()]
            if len(pairs) < len(dev["dev_in"]):
                log.warning("%d of %d dev pairs have an empty side; left out of the shots",
                            len(dev["dev_in"]) - len(pairs), len(dev["dev_in"]))
            shots = [(ep.item_fields(a.task, units=None if a.task == "mt" else
                                     convert_units_text(x, a.units_format),
                                     src=x if a.task == "mt" else None,
                                     src_lang=a.src_lang, tgt_lang=a.tgt_lang), y)
                     for x, y in pairs]
        prompts = ep.fewshot_prompts(templates, a.task, items, shots, n_shots=a.shots,
                                     seed=a.seed, same_shots=a.same_shots)
    ids = data.get("ids") or [str(i) for i in range(n)]
    chat = a.style == "instruct"
    write_jsonl(a.out, ({"id": i, "prompt": p, "chat": chat} for i, p in zip(ids, prompts)))
    log_wrote(log, "prompts", a.out, f"{n} {a.task} prompts, {a.style}")


if __name__ == "__main__":
    main()
