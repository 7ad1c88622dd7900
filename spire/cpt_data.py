"""Continued pre-training documents (docs/paper.md §3) and their mixture, streamed.

Three kinds of documents, rendered with the templates of ``configs/prompts/spire.json``:
  asr   ``Speech: {units}\\nEnglish: {transcript}`` from a unit file + transcript file (same lines)
  mt    ``{Source}: {src}\\n{Target}: {tgt}`` from parallel text, both directions by default
        (optionally several pairs of one direction per document, as in a few-shot prompt)
  mono  one line of monolingual text per document
Kinds are mixed by token weights (downsampling, no repetition) or token budgets (downsampling, or
repeating a kind that has fewer tokens than asked), with a seeded order, so the same inputs and
seed always give the same corpus.

At paper scale the inputs are billions of tokens (four speech corpora of 34.7K h), so nothing is
held in memory beyond a batch of documents and a fixed shuffle buffer: a first pass counts each
source's documents and tokens, a second pass draws the sources in a random interleaving (each
source with probability proportional to what it has left), selects documents of each kind by
sequential sampling on tokens (Knuth's selection sampling: the kind ends within one document of
its target, never short of it) and shuffles through a buffer of ``buffer_size`` documents.

An utterance that could not be read has an empty unit line (``LabelSpeech`` writes one so that
files stay aligned); it is skipped and counted, as is an empty transcript (a GigaSpeech segment
that was only ``<SIL>``), never fatal.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator

from spire.languages import language_name, parse_pair
from spire.log import get_logger
from spire.prompts import fewshot_separator, load_templates, render
from spire.tokenizer_ext import unit_piece
from spire.units import UNIT_FORMATS, text_to_units, units_to_text

log = get_logger(__name__)

KINDS = ("asr", "mt", "mono")


@dataclass
class Source:
    """A lazily read source of documents: ``iterate()`` reads its files again on every call."""
    kind: str
    name: str
    iterate: Callable[[], Iterator[str]]
    skipped: dict = field(default_factory=dict)  # reason -> count, filled while iterating

    @property
    def documents(self) -> list[str]:
        """Every document, in file order (small inputs and tests only)."""
        return list(self.iterate())


def tokenizer_unit_count(tok, unit_format: str = "pua") -> int:
    """How many units (0, 1, ...) the tokenizer has as single tokens."""
    vocab = tok.get_vocab()
    n = 0
    while unit_piece(n, unit_format) in vocab:
        n += 1
    return n


def _lines(path) -> Iterator[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield line.rstrip("\n").rstrip("\r")


def _count_lines(path) -> int:
    return sum(1 for _ in _lines(path))


def _source_name(kind: str, path, extra: str = "") -> str:
    # a task's output files share names (units.txt): the directory names the realization
    p = Path(path)
    return f"{kind}:{p.parent.name}/{p.name}{extra}"


def asr_source(units_file, transcripts_file, templates=None, unit_format: str = "pua",
               num_units: int | None = None, name: str | None = None) -> Source:
    """ASR documents; units must be below ``num_units``; empty unit lines and empty transcripts
    are skipped and counted in ``Source.skipped``."""
    templates = templates or load_templates()
    nu, nt = _count_lines(units_file), _count_lines(transcripts_file)
    if nu != nt:
        raise ValueError(f"{units_file} has {nu} lines but {transcripts_file} has {nt}: unit and "
                         "transcript files must align line by line")
    src = Source("asr", name or _source_name("asr", units_file), lambda: iter(()))

    def iterate() -> Iterator[str]:
        src.skipped.clear()
        for i, (u, t) in enumerate(zip(_lines(units_file), _lines(transcripts_file)), 1):
            try:
                seq = text_to_units(u)
            except ValueError as e:
                raise ValueError(f"{units_file}:{i}: {e}") from None
            if not seq:
                src.skipped["empty_units"] = src.skipped.get("empty_units", 0) + 1
                continue
            if num_units is not None and max(seq) >= num_units:
                raise ValueError(f"{units_file}:{i}: unit {max(seq)} is unknown to the tokenizer, which "
                                 f"has {num_units} units; extend it with --num-units > {max(seq)}")
            if not t.strip():
                src.skipped["empty_transcripts"] = src.skipped.get("empty_transcripts", 0) + 1
                continue
            yield render(templates, "cpt_asr", units=units_to_text(seq, unit_format), transcript=t.strip())

    src.iterate = iterate
    return src


def mt_source(src_file, tgt_file, pair: str, templates=None, both_directions: bool = True,
              pairs_per_doc: int = 1) -> Source:
    """Sentence pairs as ``cpt_mt`` documents, one pair per document (the paper's format).

    ``pairs_per_doc`` > 1 joins that many consecutive pairs of one direction with the few-shot
    separator, so the documents look like the base models' few-shot prompts. Why: a base model
    is prompted few-shot (the pseudo-labeller, the TowerBase/SpireBase rows), and real
    pre-training text has such lists; a model trained on single pairs only has never seen a pair
    follow another one. The miniature's TowerBase measured 3-shot chrF 30.9 / 20.4 (ty / rv)
    against 49.4 / 40.6 zero-shot from single-pair documents (docs/miniature.md).
    """
    if pairs_per_doc < 1:
        raise ValueError(f"pairs_per_doc must be at least 1, got {pairs_per_doc}")
    templates = templates or load_templates()
    sep = fewshot_separator(templates)
    s_code, t_code = parse_pair(pair)
    s_name, t_name = language_name(s_code), language_name(t_code)
    ns, nt = _count_lines(src_file), _count_lines(tgt_file)
    if ns != nt:
        raise ValueError(f"{src_file} has {ns} lines but {tgt_file} has {nt}: "
                         "parallel files must align line by line")
    out = Source("mt", _source_name("mt", src_file, f":{s_code}-{t_code}"), lambda: iter(()))

    def pairs() -> Iterator[tuple[int, str]]:
        """(direction, rendered pair); direction 1 is TGT→SRC."""
        out.skipped.clear()
        for s, t in zip(_lines(src_file), _lines(tgt_file)):
            if not s.strip() or not t.strip():
                out.skipped["empty_sentences"] = out.skipped.get("empty_sentences", 0) + 1
                continue
            yield 0, render(templates, "cpt_mt", src_lang=s_name, tgt_lang=t_name, src=s.strip(), tgt=t.strip())
            if both_directions:
                yield 1, render(templates, "cpt_mt", src_lang=t_name, tgt_lang=s_name, src=t.strip(), tgt=s.strip())

    def iterate() -> Iterator[str]:
        pending: dict[int, list[str]] = {0: [], 1: []}
        for direction, doc in pairs():
            pending[direction].append(doc)
            if len(pending[direction]) == pairs_per_doc:
                yield sep.join(pending[direction])
                pending[direction] = []
        for rest in pending.values():  # the last, shorter documents
            if rest:
                yield sep.join(rest)

    out.iterate = iterate
    return out


def mono_source(text_file) -> Source:
    return Source("mono", _source_name("mono", text_file),
                  lambda: (line.strip() for line in _lines(text_file) if line.strip()))


def count_tokens(tok, docs: list[str], batch: int = 1000) -> list[int]:
    """Tokens per document as the trainer sees it (``<s> doc </s>``)."""
    out = []
    for i in range(0, len(docs), batch):
        out += [len(ids) + 2 for ids in tok(docs[i:i + batch], add_special_tokens=False)["input_ids"]]
    return out


def _with_tokens(tok, docs: Iterator[str], batch: int = 1000) -> Iterator[tuple[str, int]]:
    """(document, tokens) in order, tokenizing ``batch`` documents at a time."""
    while True:
        chunk = list(islice(docs, batch))
        if not chunk:
            return
        yield from zip(chunk, count_tokens(tok, chunk, batch))


def survey(sources: list[Source], tok) -> dict[str, dict]:
    """First pass: documents and tokens of each source (streamed)."""
    from tqdm import tqdm

    out = {}
    for s in sources:
        n = tokens = 0
        for _, k in tqdm(_with_tokens(tok, s.iterate()), desc=f"counting {s.name}", mininterval=10):
            n += 1
            tokens += k
        out[s.name] = {"kind": s.kind, "documents": n, "tokens": tokens, "skipped": dict(s.skipped)}
    return out


def mix_stream(sources: list[Source], tok, weights: dict[str, float] | None = None,
               budgets: dict[str, int] | None = None, seed: int = 0,
               buffer_size: int = 10000) -> tuple[Iterator[str], dict]:
    """The mixed documents as an iterator, and the stats (complete once the iterator is spent).

    ``weights``: token shares per kind; the largest mixture that needs no repetition is taken.
    ``budgets``: tokens per kind; a kind with fewer tokens is repeated (whole copies, then a sample).
    Neither: everything once. Stats give documents and tokens per source and per kind, and what
    each source skipped (empty unit lines, empty transcripts).
    """
    if weights and budgets:
        raise ValueError("give token weights or token budgets, not both")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"two sources have the same name: {names}")
    survey_ = survey(sources, tok)
    avail: dict[str, int] = defaultdict(int)
    for s in sources:
        avail[s.kind] += survey_[s.name]["tokens"]
    plan = weights or budgets or {}
    for k in plan:
        if k not in KINDS:
            raise ValueError(f"unknown document kind {k!r} in the mixture; use {KINDS}")
        if plan[k] and k not in avail:
            raise ValueError(f"the mixture asks for {k!r} documents but no {k} source was given")
    if weights:
        if not any(w > 0 for w in weights.values()):
            raise ValueError(f"--weights {weights}: every weight is 0; give at least one kind a positive share")
        wsum = sum(weights.values())
        if abs(wsum - 1) > 1e-6:  # legitimate (shares are relative) but say how they are read
            log.warning("--weights sum to %g, not 1: read as relative shares %s", wsum,
                        ", ".join(f"{k} {w / wsum:.1%}" for k, w in weights.items()))
        total = min(avail[k] / w for k, w in weights.items() if w > 0)
        target = {k: weights.get(k, 0) * total for k in avail}
    elif budgets:
        target = {k: float(budgets.get(k, 0)) for k in avail}
    else:
        target = {k: float(avail[k]) for k in avail}
    stats: dict = {"seed": seed, "weights": weights, "budgets": budgets, "shuffle_buffer": buffer_size,
                   "kinds": {k: {"documents": 0, "tokens": 0, "available_tokens": avail[k],
                                 "target_tokens": target[k]} for k in avail},
                   "sources": {s.name: {"kind": s.kind, "documents": 0, "tokens": 0,
                                        "available_documents": survey_[s.name]["documents"],
                                        "available_tokens": survey_[s.name]["tokens"],
                                        "skipped": survey_[s.name]["skipped"]} for s in sources},
                   "total": {"documents": 0, "tokens": 0}}
    return _draw(sources, tok, survey_, avail, target, stats, seed, buffer_size), stats


def _draw(sources, tok, survey_, avail, target, stats, seed, buffer_size) -> Iterator[str]:
    rng = random.Random(seed)
    copies = {k: int(target[k] // avail[k]) if avail[k] else 0 for k in avail}
    # the part of each kind's target left after whole copies, drawn by selection sampling
    need = {k: target[k] - copies[k] * avail[k] for k in avail}
    seen = {k: 0 for k in avail}
    streams = {s.name: _with_tokens(tok, s.iterate()) for s in sources}
    left = {s.name: survey_[s.name]["documents"] for s in sources}
    kind_of = {s.name: s.kind for s in sources}
    buffer: list[str] = []

    def emit(doc: str, name: str, n: int):
        for key, group in (("sources", name), ("kinds", kind_of[name]), ("total", None)):
            e = stats[key][group] if group else stats[key]
            e["documents"] += 1
            e["tokens"] += n
        if len(buffer) < buffer_size:
            buffer.append(doc)
            return None
        j = rng.randrange(len(buffer))
        out, buffer[j] = buffer[j], doc
        return out

    while any(left.values()):
        pick = rng.choices([n for n in left if left[n]], weights=[left[n] for n in left if left[n]])[0]
        doc, n = next(streams[pick])
        left[pick] -= 1
        kind = kind_of[pick]
        times = copies[kind]
        remaining = avail[kind] - seen[kind]
        # take it with probability need/remaining, or surely when skipping it would miss the target
        if need[kind] > 0 and (remaining - n < need[kind] or rng.random() * remaining < need[kind]):
            times += 1
            need[kind] -= n
        seen[kind] += n
        for _ in range(times):
            out = emit(doc, pick, n)
            if out is not None:
                yield out
    rng.shuffle(buffer)
    yield from buffer
    for s in sources:  # what the second pass skipped (same as the survey's)
        stats["sources"][s.name]["skipped"] = dict(s.skipped)


def mix(sources: list[Source], tok, weights: dict[str, float] | None = None,
        budgets: dict[str, int] | None = None, seed: int = 0, buffer_size: int = 10000) -> tuple[list[str], dict]:
    """:func:`mix_stream` collected into a list (small inputs and tests)."""
    docs, stats = mix_stream(sources, tok, weights, budgets, seed, buffer_size)
    return list(docs), stats


def parse_kv(items: list[str] | None, cast, what: str) -> dict | None:
    """``["asr=0.8", "mt=0.2"]`` → ``{"asr": 0.8, "mt": 0.2}`` with a clear error."""
    if not items:
        return None
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep:
            raise ValueError(f"bad {what} {it!r}; expected KIND=VALUE with KIND in {KINDS}")
        try:
            value = cast(v)
        except (ValueError, OverflowError):
            value = None
        # a negative share would quietly drop the kind; nan/inf would poison every target
        if value is None or not math.isfinite(value) or value < 0:
            raise ValueError(f"--{what}s {it}: {v!r} is not a number >= 0; expected KIND=VALUE, e.g. "
                             f"{KINDS[0]}=0.8 (set in the CPT weights/budgets of your config)")
        out[k] = value
    return out


__all__ = ["KINDS", "UNIT_FORMATS", "Source", "asr_source", "mt_source", "mono_source", "mix",
           "mix_stream", "survey", "count_tokens", "tokenizer_unit_count", "parse_kv"]
