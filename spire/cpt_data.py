"""Continued pre-training documents (docs/paper.md §3) and their mixture.

Three kinds of documents, rendered with the templates of ``configs/prompts/spire.json``:
  asr   ``Speech: {units}\\nEnglish: {transcript}`` from a unit file + transcript file (same lines)
  mt    ``{Source}: {src}\\n{Target}: {tgt}`` from parallel text, both directions by default
  mono  one line of monolingual text per document
Kinds are mixed by token weights (downsampling, no repetition) or token budgets (downsampling, or
repeating a kind that has fewer tokens than asked), with a seeded shuffle, so the same inputs and
seed always give the same corpus.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from spire.io import read_lines
from spire.languages import language_name, parse_pair
from spire.prompts import load_templates, render
from spire.tokenizer_ext import unit_piece
from spire.units import UNIT_FORMATS, text_to_units, units_to_text

KINDS = ("asr", "mt", "mono")


@dataclass
class Source:
    kind: str
    name: str
    documents: list[str]


def tokenizer_unit_count(tok, unit_format: str = "pua") -> int:
    """How many units (0, 1, ...) the tokenizer has as single tokens."""
    vocab = tok.get_vocab()
    n = 0
    while unit_piece(n, unit_format) in vocab:
        n += 1
    return n


def asr_source(units_file, transcripts_file, templates=None, unit_format: str = "pua",
               num_units: int | None = None) -> Source:
    """ASR documents; every unit line must be non-empty and use units below ``num_units``."""
    templates = templates or load_templates()
    units = read_lines(units_file)
    texts = read_lines(transcripts_file)
    if len(units) != len(texts):
        raise ValueError(f"{units_file} has {len(units)} lines but {transcripts_file} has "
                         f"{len(texts)}: unit and transcript files must align line by line")
    docs = []
    for i, (u, t) in enumerate(zip(units, texts), 1):
        try:
            seq = text_to_units(u)
        except ValueError as e:
            raise ValueError(f"{units_file}:{i}: {e}") from None
        if not seq:
            raise ValueError(f"{units_file}:{i}: empty unit sequence (an unreadable utterance?); "
                             "drop it from both files")
        if num_units is not None and max(seq) >= num_units:
            raise ValueError(f"{units_file}:{i}: unit {max(seq)} is unknown to the tokenizer, which "
                             f"has {num_units} units; extend it with --num-units > {max(seq)}")
        if not t.strip():
            raise ValueError(f"{transcripts_file}:{i}: empty transcript")
        docs.append(render(templates, "cpt_asr", units=units_to_text(seq, unit_format),
                           transcript=t.strip()))
    return Source("asr", f"asr:{Path(units_file).name}", docs)


def mt_source(src_file, tgt_file, pair: str, templates=None, both_directions: bool = True) -> Source:
    templates = templates or load_templates()
    s_code, t_code = parse_pair(pair)
    s_name, t_name = language_name(s_code), language_name(t_code)
    src, tgt = read_lines(src_file), read_lines(tgt_file)
    if len(src) != len(tgt):
        raise ValueError(f"{src_file} has {len(src)} lines but {tgt_file} has {len(tgt)}: "
                         "parallel files must align line by line")
    docs = []
    for i, (s, t) in enumerate(zip(src, tgt), 1):
        if not s.strip() or not t.strip():
            raise ValueError(f"{src_file if not s.strip() else tgt_file}:{i}: empty sentence")
        docs.append(render(templates, "cpt_mt", src_lang=s_name, tgt_lang=t_name, src=s.strip(),
                           tgt=t.strip()))
        if both_directions:
            docs.append(render(templates, "cpt_mt", src_lang=t_name, tgt_lang=s_name,
                               src=t.strip(), tgt=s.strip()))
    return Source("mt", f"mt:{Path(src_file).name}:{s_code}-{t_code}", docs)


def mono_source(text_file) -> Source:
    return Source("mono", f"mono:{Path(text_file).name}",
                  [line.strip() for line in read_lines(text_file) if line.strip()])


def count_tokens(tok, docs: list[str], batch: int = 1000) -> list[int]:
    """Tokens per document as the trainer sees it (``<s> doc </s>``)."""
    out = []
    for i in range(0, len(docs), batch):
        out += [len(ids) + 2 for ids in tok(docs[i:i + batch], add_special_tokens=False)["input_ids"]]
    return out


def mix(sources: list[Source], tok, weights: dict[str, float] | None = None,
        budgets: dict[str, int] | None = None, seed: int = 0) -> tuple[list[str], dict]:
    """Select and shuffle documents; returns (documents, stats).

    ``weights``: token shares per kind; the largest mixture that needs no repetition is taken.
    ``budgets``: tokens per kind; a kind with fewer tokens is repeated (each pass reshuffled).
    Neither: everything once. Stats give documents and tokens per source and per kind.
    """
    if weights and budgets:
        raise ValueError("give token weights or token budgets, not both")
    by_kind: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for s in sources:
        for d, n in zip(s.documents, count_tokens(tok, s.documents)):
            by_kind[s.kind].append((s.name, d, n))
    plan = weights or budgets or {}
    for k in plan:
        if k not in KINDS:
            raise ValueError(f"unknown document kind {k!r} in the mixture; use {KINDS}")
        if plan[k] and k not in by_kind:
            raise ValueError(f"the mixture asks for {k!r} documents but no {k} source was given")
    avail = {k: sum(n for _, _, n in v) for k, v in by_kind.items()}
    if weights:
        total = min(avail[k] / w for k, w in weights.items() if w > 0)
        target = {k: weights.get(k, 0) * total for k in by_kind}
    elif budgets:
        target = {k: budgets.get(k, 0) for k in by_kind}
    else:
        target = {k: float("inf") for k in by_kind}
    rng = random.Random(seed)
    chosen: list[tuple[str, str, str, int]] = []
    for kind in sorted(by_kind):
        docs, got, passes = by_kind[kind], 0, 0
        while got < target[kind] and docs:
            order = list(range(len(docs)))
            rng.shuffle(order)
            passes += 1
            for j in order:
                if got >= target[kind]:
                    break
                name, d, n = docs[j]
                chosen.append((kind, name, d, n))
                got += n
            if target[kind] == float("inf"):
                break
    rng.shuffle(chosen)
    stats: dict = {"seed": seed, "weights": weights, "budgets": budgets,
                   "kinds": {}, "sources": {}, "total": {"documents": len(chosen),
                                                          "tokens": sum(c[3] for c in chosen)}}
    for s in sources:
        stats["sources"][s.name] = {"kind": s.kind, "documents": 0, "tokens": 0,
                                    "available_documents": len(s.documents)}
    for kind, name, _, n in chosen:
        for key, group in (("kinds", kind), ("sources", name)):
            e = stats[key].setdefault(group, {"documents": 0, "tokens": 0})
            e["documents"] += 1
            e["tokens"] += n
    for k in by_kind:
        stats["kinds"].setdefault(k, {"documents": 0, "tokens": 0})["available_tokens"] = avail[k]
    return [c[2] for c in chosen], stats


def parse_kv(items: list[str] | None, cast, what: str) -> dict | None:
    """``["asr=0.8", "mt=0.2"]`` → ``{"asr": 0.8, "mt": 0.2}`` with a clear error."""
    if not items:
        return None
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep:
            raise ValueError(f"bad {what} {it!r}; expected KIND=VALUE with KIND in {KINDS}")
        out[k] = cast(v)
    return out


__all__ = ["KINDS", "UNIT_FORMATS", "Source", "asr_source", "mt_source", "mono_source", "mix",
           "count_tokens", "tokenizer_unit_count", "parse_kv"]
