"""Evaluation prompts (docs/paper.md §5): ASR, direct ST, self-cascaded ST, gold-transcript MT and MT.

* Instruct models: zero-shot, the user turn from ``configs/prompts/spire.json`` wrapped in the
  chat template (the tokenizer's own, or ChatML rendered from the template file).
* Base models: few-shot plain text; each shot is the query template followed by `` {answer}``
  (exactly the CPT document format, e.g. ``Speech: {units}\\nEnglish: {transcript}``), shots
  joined by the template's ``fewshot_separator``, drawn with a fixed seed from a dev set.

Self-cascaded ST is the MT task whose sources are the model's own ASR hypotheses; gold-transcript
MT is the MT task whose sources are the reference transcripts.
"""
from __future__ import annotations

import random
from typing import Sequence

from spire.languages import language_name
from spire.prompts import fewshot_separator, render

TASKS = ("asr", "st", "mt", "st_two_turn")
# Template names per task: (instruct user turn, base-model query).
TEMPLATES = {"asr": ("asr", "asr"), "st": ("st", "st"), "mt": ("mt", "mt_base")}


def item_fields(task: str, *, units: str | None = None, src: str | None = None,
                src_lang: str = "en", tgt_lang: str | None = None) -> dict[str, str]:
    """Template fields of one item (language codes become their prompt names)."""
    if task in ("asr", "st", "st_two_turn") and units is None:
        raise ValueError(f"task {task!r} needs speech units")
    if task == "mt" and src is None:
        raise ValueError("task 'mt' needs a source text")
    if task in ("st", "mt", "st_two_turn") and not tgt_lang:
        raise ValueError(f"task {task!r} needs a target language")
    fields = {"src_lang": language_name(src_lang)}
    if units is not None:
        fields["units"] = units
    if src is not None:
        fields["src"] = src
    if tgt_lang:
        fields["tgt_lang"] = language_name(tgt_lang)
    return fields


def instruct_messages(templates: dict[str, str], task: str, fields: dict[str, str],
                      asr_hypothesis: str | None = None, system: str | None = None) -> list[dict]:
    """Chat messages of one zero-shot item; ``st_two_turn`` replays the model's own transcript
    as the first assistant turn (the multi-turn ST format of docs/paper.md §4)."""
    msgs = [{"role": "system", "content": system}] if system else []
    if task == "st_two_turn":
        if asr_hypothesis is None:
            raise ValueError("task 'st_two_turn' needs the model's ASR hypotheses")
        msgs += [{"role": "user", "content": render(templates, "asr", **fields)},
                 {"role": "assistant", "content": asr_hypothesis},
                 {"role": "user", "content": render(templates, "st_second_turn", **fields)}]
    else:
        msgs.append({"role": "user", "content": render(templates, TEMPLATES[task][0], **fields)})
    return msgs


def chatml(templates: dict[str, str], messages: list[dict]) -> str:
    """ChatML text with the generation prompt, from the template file's ``chatml_*`` keys
    (identical to the instruct tokenizer's chat template of docs/paper.md §2)."""
    turns = "".join(render(templates, "chatml_turn", role=m["role"], content=m["content"])
                    for m in messages)
    return turns + templates["chatml_generation_prompt"]


def apply_tokenizer_template(tokenizer, messages: list[dict]) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{tokenizer.name_or_path}: the tokenizer has no chat template; use "
                         "--chat chatml or a base-model "
                         "few-shot prompt")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def base_query(templates: dict[str, str], task: str, fields: dict[str, str]) -> str:
    if task not in TEMPLATES:
        raise ValueError(f"task {task!r} has no base-model (plain) prompt; use an instruct model")
    return render(templates, TEMPLATES[task][1], **fields)


def fewshot_prompts(templates: dict[str, str], task: str, items: Sequence[dict[str, str]],
                    shots: Sequence[tuple[dict[str, str], str]], n_shots: int = 5,
                    seed: int = 42, same_shots: bool = False) -> list[str]:
    """Plain few-shot prompts: ``n_shots`` (fields, answer) pairs drawn from ``shots`` with a
    fixed seed (fresh draws per item, or one draw for all with ``same_shots``), then the query."""
    if n_shots and len(shots) < n_shots:
        raise ValueError(f"need at least {n_shots} dev examples for {n_shots}-shot prompts, "
                         f"got {len(shots)}")
    sep = fewshot_separator(templates)
    rng = random.Random(seed)
    fixed = rng.sample(range(len(shots)), n_shots) if same_shots else None
    out = []
    for fields in items:
        chosen = fixed if same_shots else rng.sample(range(len(shots)), n_shots)
        parts = [f"{base_query(templates, task, shots[j][0])} {shots[j][1]}" for j in chosen]
        parts.append(base_query(templates, task, fields))
        out.append(sep.join(parts))
    return out
