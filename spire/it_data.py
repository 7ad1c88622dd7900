"""Instruction-tuning conversations (docs/paper.md §4) in the Hugging Face messages format.

One IT example is one JSON object per line::

    {"messages": [{"role": "user", "content": "Speech: ...\\nEnglish:"},
                  {"role": "assistant", "content": "the transcript"}],
     "task": "asr", "source": "commonvoice_asr", "lang": "en"}

The trainer reads only ``messages`` (and renders them with the tokenizer's ChatML template); the
metadata fields let mixtures and statistics count examples:

- ``task``: ``asr``, ``st`` (direct), ``st_multiturn``, ``mt`` or ``blocks`` (text instructions
  passed through, e.g. TowerBlocks; their own task name is kept in ``blocks_task``),
- ``source``: the component name given by the caller (``europarl_st``, ``pseudo_spgi``...),
- ``lang``: ``en`` for ASR, ``SRC-TGT`` for ST and MT, whatever a Blocks row says otherwise,
- ``pseudo``: ``true`` on pseudo-labelled ST (written by :mod:`spire.pseudo_label`).

User turns come from the prompt templates (``configs/prompts/spire.json``: ``asr``, ``st``,
``st_second_turn``, ``mt``) so that training and evaluation prompts cannot drift apart.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from spire.io import iter_jsonl, read_lines
from spire.languages import language_name, parse_pair
from spire.prompts import render
from spire.units import convert_units_text

TASKS = ("asr", "st", "st_multiturn", "mt", "blocks")
ST_FORMATS = ("direct", "multiturn", "both", "mixed")
ROLES = ("system", "user", "assistant")
# ShareGPT speaker names (TowerBlocks' ``conversations`` column) → chat roles.
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system"}
TEMPLATES_NEEDED = {"asr": ("asr",), "st": ("st", "asr", "st_second_turn"), "mt": ("mt",)}


# --------------------------------------------------------------------------- conversations

def _msg(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def asr_messages(templates: dict, units: str, transcript: str) -> list[dict]:
    """``Speech: {units}\\nEnglish:`` → transcript."""
    return [_msg("user", render(templates, "asr", units=units)), _msg("assistant", transcript)]


def st_messages(templates: dict, units: str, translation: str, tgt: str) -> list[dict]:
    """Direct ST: ``Speech: {units}\\n{Language}:`` → translation."""
    return [_msg("user", render(templates, "st", units=units, tgt_lang=language_name(tgt))),
            _msg("assistant", translation)]


def st_multiturn_messages(templates: dict, units: str, transcript: str, translation: str,
                          tgt: str) -> list[dict]:
    """Multi-turn ST: the ASR turn and its transcript, then ``{Language}:`` → translation."""
    return asr_messages(templates, units, transcript) + [
        _msg("user", render(templates, "st_second_turn", tgt_lang=language_name(tgt))),
        _msg("assistant", translation)]


def mt_messages(templates: dict, src_text: str, tgt_text: str, src: str, tgt: str) -> list[dict]:
    """``Translate the following text from {src} to {tgt}.\\n{src}: {text}\\n{tgt}:`` → translation."""
    return [_msg("user", render(templates, "mt", src_lang=language_name(src),
                                tgt_lang=language_name(tgt), src=src_text)),
            _msg("assistant", tgt_text)]


def make_row(messages: list[dict], task: str, source: str, lang: str, **extra) -> dict:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return {"messages": messages, "task": task, "source": source, "lang": lang, **extra}


def check_templates(templates: dict, kind: str, path: str | Path | None) -> None:
    """Fail before any work if the templates file lacks a template this kind of data needs."""
    missing = [name for name in TEMPLATES_NEEDED[kind] if name not in templates]
    if missing:
        raise KeyError(f"{path or 'prompt templates'}: no template(s) {missing} needed for {kind} "
                       f"data; available: {sorted(templates)}")


# --------------------------------------------------------------------------- validation

def validate_messages(messages, where: str) -> list[dict]:
    """Check one conversation; errors start with ``where`` (``file:line``).

    A valid conversation is an optional system turn, then user and assistant turns alternating,
    starting with a user turn and ending with a non-empty assistant turn (the only turns the
    trainer computes a loss on).
    """
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where}: 'messages' must be a non-empty list of {{role, content}}")
    for k, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"{where}: message {k} must be {{'role': one of {ROLES}, 'content': str}}, "
                             f"got {str(m)[:80]}")
    turns = messages[1:] if messages[0]["role"] == "system" else messages
    if not any(m["role"] == "assistant" for m in turns):
        raise ValueError(f"{where}: conversation has no assistant turn (nothing to train on)")
    for k, m in enumerate(turns):
        expected = "user" if k % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise ValueError(f"{where}: turn {k} is {m['role']!r}, expected {expected!r} "
                             "(optional system turn, then user/assistant alternating)")
    if turns[-1]["role"] != "assistant":
        raise ValueError(f"{where}: conversation ends with a user turn; it must end with an "
                         "assistant turn")
    if any(m["role"] == "assistant" and not m["content"].strip() for m in turns):
        raise ValueError(f"{where}: empty assistant turn")
    return messages


def validate_row(row, where: str) -> dict:
    if not isinstance(row, dict) or "messages" not in row:
        raise ValueError(f"{where}: expected an object with a 'messages' list")
    validate_messages(row["messages"], where)
    return row


def blocks_row(row: dict, where: str, source: str) -> dict:
    """A text-instruction row (messages, or ShareGPT ``conversations`` as in TowerBlocks) → IT row."""
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object")
    if "messages" in row:
        messages = row["messages"]
    elif "conversations" in row:
        conv = row["conversations"]
        if not isinstance(conv, list):
            raise ValueError(f"{where}: 'conversations' must be a list")
        messages = []
        for k, turn in enumerate(conv):
            speaker = turn.get("from") if isinstance(turn, dict) else None
            if speaker not in SHAREGPT_ROLES:
                raise ValueError(f"{where}: conversation turn {k} has unknown speaker {speaker!r}; "
                                 f"expected one of {sorted(SHAREGPT_ROLES)}")
            messages.append(_msg(SHAREGPT_ROLES[speaker], turn.get("value")))
    else:
        raise ValueError(f"{where}: expected a 'messages' (or ShareGPT 'conversations') field")
    validate_messages(messages, where)
    extra = {k: v for k, v in row.items() if k not in ("messages", "conversations", "task", "source", "lang")}
    if "task" in row:
        extra["blocks_task"] = row["task"]
    return make_row(messages, "blocks", source, str(row.get("lang", "")), **extra)


def iter_instruction_rows(path: str) -> Iterator[tuple[str, dict]]:
    """``(where, row)`` from a local JSONL file, or a dataset config (``.yaml``: TowerBlocks at
    paper scale, read through the one loader and so through the mirror), a ``save_to_disk``
    folder or a parquet file.

    Tests and the miniature use local JSONL.
    """
    p = Path(path)
    if p.is_file() and p.suffix in (".jsonl", ".json"):
        yield from _iter_jsonl_numbered(p)
        return
    from spire.audio_data import DatasetConfig, open_dataset

    if p.is_file() and p.suffix in (".yaml", ".yml"):
        ds = open_dataset(p)
    elif p.exists():
        ds = open_dataset(DatasetConfig(path=str(p), audio_column=None, source=str(p)))
    else:
        raise FileNotFoundError(f"{path}: not a JSONL file, dataset config (.yaml), dataset folder or "
                                "parquet file (a hub dataset needs a config in configs/datasets/)")
    for i, row in enumerate(ds.rows()):
        yield f"{path}[row {i}]", row


def _iter_jsonl_numbered(path: Path) -> Iterator[tuple[str, dict]]:
    """Like :func:`spire.io.iter_jsonl` but also yields each row's ``file:line``."""
    # Two lazy passes in step: line numbers of the non-blank lines, and spire.io's parser (whose
    # errors already name file and line); streaming keeps a 1.5 GB TowerBlocks dump out of memory.
    with open(path, encoding="utf-8") as f:
        numbers = (i for i, line in enumerate(f, 1) if line.strip())
        for i, row in zip(numbers, iter_jsonl(path)):
            yield f"{path}:{i}", row


def read_it_rows(path: str | Path) -> Iterator[tuple[str, dict]]:
    """Validated ``(where, row)`` of an IT corpus (JSONL written by these builders)."""
    for where, row in _iter_jsonl_numbered(Path(path)):
        yield where, validate_row(row, where)


# --------------------------------------------------------------------------- aligned inputs

def read_aligned(files: dict[str, str | Path]) -> dict[str, list[str]]:
    """Read line files that must be aligned (units, transcripts, translations...).

    Different line counts are an error naming both files and the first line that has no partner.
    """
    data = {name: read_lines(path) for name, path in files.items()}
    names = list(files)
    ref = names[0]
    for name in names[1:]:
        a, b = len(data[ref]), len(data[name])
        if a != b:
            longer, shorter = (ref, name) if a > b else (name, ref)
            raise ValueError(
                f"{files[longer]}:{min(a, b) + 1}: {longer} has {max(a, b)} lines but {shorter} "
                f"({files[shorter]}) has {min(a, b)}; line {min(a, b) + 1} has no partner. "
                "The files must be aligned line by line.")
    return data


def normalize_units(line: str, where: str, unit_format: str = "pua") -> str:
    try:
        return convert_units_text(line, unit_format)
    except ValueError as e:
        raise ValueError(f"{where}: bad units line: {e}") from None


def st_formats_for(n: int, fmt: str, seed: int) -> list[tuple[str, ...]]:
    """Which ST conversation(s) each of ``n`` examples yields: ``direct``, ``multiturn``, ``both``,
    or ``mixed`` (each example one of the two, drawn with ``seed``: our choice for using both
    formats without doubling the examples)."""
    if fmt not in ST_FORMATS:
        raise ValueError(f"unknown ST format {fmt!r}; expected one of {ST_FORMATS}")
    if fmt == "direct":
        return [("st",)] * n
    if fmt == "multiturn":
        return [("st_multiturn",)] * n
    if fmt == "both":
        return [("st", "st_multiturn")] * n
    rng = random.Random(f"st-format:{seed}")
    return [(rng.choice(("st", "st_multiturn")),) for _ in range(n)]


def asr_rows(templates: dict, units: Sequence[str], transcripts: Sequence[str], source: str,
             units_path: str = "units", unit_format: str = "pua", skipped: dict | None = None
             ) -> Iterator[dict]:
    """ASR rows from aligned units and transcripts; empty lines (unreadable audio) are skipped."""
    for i, (u, t) in enumerate(zip(units, transcripts)):
        if not u.strip() or not t.strip():
            _count(skipped, "empty_line")
            continue
        yield make_row(asr_messages(templates, normalize_units(u, f"{units_path}:{i + 1}", unit_format),
                                    t.strip()), "asr", source, "en", line=i + 1)


def st_rows(templates: dict, units: Sequence[str], translations: dict[str, Sequence[str]],
            source: str, transcripts: Sequence[str] | None = None, fmt: str = "direct",
            seed: int = 0, units_path: str = "units", unit_format: str = "pua",
            skipped: dict | None = None, extra: dict | None = None,
            keep: Iterable[int] | None = None) -> Iterator[dict]:
    """ST rows (English speech → each target language) in the chosen format(s).

    ``keep``: only these 0-based line indices (the pseudo-labeller's selection); ``extra``:
    per-language dict of per-line dicts merged into each row (e.g. the pseudo-label score).
    """
    if fmt != "direct" and transcripts is None:
        raise ValueError(f"ST format {fmt!r} needs the English transcripts (multi-turn ST starts "
                         "with an ASR turn)")
    for tgt in translations:
        language_name(tgt)
    kinds = st_formats_for(len(units), fmt, seed)
    keep_set = None if keep is None else set(keep)
    for tgt, lines in translations.items():
        for i, u in enumerate(units):
            if keep_set is not None and i not in keep_set:
                continue
            tr = lines[i].strip()
            if not u.strip() or not tr or (transcripts is not None and fmt != "direct"
                                           and not transcripts[i].strip()):
                _count(skipped, "empty_line")
                continue
            u = normalize_units(u, f"{units_path}:{i + 1}", unit_format)
            more = dict(extra[tgt][i]) if extra and tgt in extra else {}
            for kind in kinds[i]:
                if kind == "st":
                    messages = st_messages(templates, u, tr, tgt)
                else:
                    messages = st_multiturn_messages(templates, u, transcripts[i].strip(), tr, tgt)
                yield make_row(messages, kind, source, f"en-{tgt}", line=i + 1, **more)


def mt_rows(templates: dict, texts: dict[str, Sequence[str]], pairs: Sequence[str], source: str,
            skipped: dict | None = None) -> Iterator[dict]:
    """MT rows for each ``SRC-TGT`` pair from multi-parallel line files (one per language)."""
    for pair in pairs:
        src, tgt = parse_pair(pair)
        for lang in (src, tgt):
            if lang not in texts:
                raise ValueError(f"pair {pair}: no text file for language {lang!r}; given: "
                                 f"{sorted(texts)}")
        for i, (s, t) in enumerate(zip(texts[src], texts[tgt])):
            if not s.strip() or not t.strip():
                _count(skipped, "empty_line")
                continue
            yield make_row(mt_messages(templates, s.strip(), t.strip(), src, tgt), "mt", source,
                           f"{src}-{tgt}", line=i + 1)


def _count(counter: dict | None, key: str) -> None:
    if counter is not None:
        counter[key] = counter.get(key, 0) + 1


def count_rows(rows: Iterable[dict]) -> dict:
    """``{"examples": n, "by_task": {...}, "by_lang": {...}}`` of IT rows."""
    out = {"examples": 0, "by_task": {}, "by_lang": {}}
    for row in rows:
        out["examples"] += 1
        _count(out["by_task"], row.get("task", "?"))
        _count(out["by_lang"], row.get("lang", "?"))
    return out
