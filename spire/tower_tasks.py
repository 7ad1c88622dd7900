"""Table 8: two of Tower's own non-translation tasks, to check that speech did not cost Tower them
(docs/paper.md §5): automatic post-editing (APE, scored by COMET-22) and named-entity
recognition (NER, scored by span F1), on the test sets of Tower's own evaluation suite,
TowerEval-Data-v0.1 (huggingface.co/datasets/Unbabel/TowerEval-Data-v0.1, github.com/deep-spin/tower-eval):

* APE: ``raw_data/ape/nllb_3b_wmt23.<src>-<tgt>/test.jsonl``, NLLB-3.3B translations of the WMT23
  test sets; each row has ``src`` (the source), ``mt`` (NLLB's translation) and ``ref`` (the
  reference that COMET compares with), as tower-eval reads them.
* NER: ``raw_data/ner/multiconer2023.<lang>/test.jsonl``, 1,000 random test sentences of
  MultiCoNER II per language; ``input`` the tokens, ``answer`` the gold labels as a list of
  ``("token", "B-Person")`` tuples (TowerInstruct's output format), six coarse types.

The prompts are ours, written after tower-eval's 0-shot task templates (same information: the
source and the draft translation for APE; the token list, the six types with a description each
and the BIO convention for NER), zero-shot and wrapped in ChatML like every instruct prompt here.
NER F1 is conlleval's: exact (type, start, end) spans pooled over the test set, as tower-eval's
``f1sequence`` (labels outside the six types count as O; a hypothesis is cut or padded with O to
the reference's length). Written here in a few lines because ``seqeval`` is not in the
environment and its default mode differs on stray I- labels only in ways conlleval fixes.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from spire.io import read_lines
from spire.languages import language_name

TASKS = ("ape", "ner")
# TowerEval-Data-v0.1's subtasks (tower-eval configs/tower_paper/tower_instruct_0_shot.yaml)
APE_PAIRS = ("en-de", "de-en", "en-ru", "ru-en", "en-zh", "zh-en")
NER_LANGS = ("en", "de", "es", "fr", "it", "pt", "zh")
# MultiCoNER II's six coarse types as TowerEval scores them, with the guideline the prompt gives
NER_TYPES = {
    "Person": "names of people",
    "Location": "locations and physical facilities",
    "Group": "organisations, companies and other groups of people",
    "Product": "consumer products: food, drinks, clothing, vehicles",
    "CreativeWorks": "titles of creative works such as films, songs and books",
    "Medical": "medical entities: diseases, symptoms, medications",
}
NOENT = "O"
_TUPLE = re.compile(r'\("(.*?)", "(.*?)"\)')


@dataclass
class APERow:
    src: str
    mt: str
    ref: str


@dataclass
class NERRow:
    tokens: list[str]
    tags: list[str]


def subtask_file(root: str | os.PathLike, task: str, subtask: str) -> Path:
    """``<root>/<task>/<subtask>/test.jsonl``; ``root`` is TowerEval's ``raw_data`` folder or one
    above it (the extracted archive: ``data/raw_data``)."""
    root = Path(root)
    for base in (root, root / "raw_data", root / "data" / "raw_data"):
        path = base / task / subtask / "test.jsonl"
        if path.is_file():
            return path
    raise FileNotFoundError(f"{root}: no {task}/{subtask}/test.jsonl under it (nor under raw_data/ or "
                            "data/raw_data/); fetch TowerEval-Data-v0.1 into the mirror first "
                            "(FetchCorpus towereval, `-p data`)")


def subtask_name(task: str, lang: str) -> str:
    """The TowerEval subtask of a language pair (APE, ``en-de``) or a language (NER, ``en``)."""
    if task == "ape":
        if lang not in APE_PAIRS:
            raise ValueError(f"APE pair {lang!r}: TowerEval has {', '.join(APE_PAIRS)}")
        return f"nllb_3b_wmt23.{lang}"
    if task == "ner":
        if lang not in NER_LANGS:
            raise ValueError(f"NER language {lang!r}: TowerEval has {', '.join(NER_LANGS)}")
        return f"multiconer2023.{lang}"
    raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def _rows(path: str | os.PathLike, keys: Sequence[str]) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = [k for k in keys if k not in row]
            if missing:
                raise ValueError(f"{path}:{n}: no {', '.join(missing)} (has {', '.join(sorted(row))})")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def read_ape(path: str | os.PathLike) -> list[APERow]:
    return [APERow(" ".join(r["src"].split()), " ".join(r["mt"].split()), " ".join(r["ref"].split()))
            for r in _rows(path, ("src", "mt", "ref"))]


def parse_tagged(text: str) -> list[tuple[str, str]]:
    """``[("token", "label"), ...]`` as TowerInstruct writes it (and TowerEval's gold ``answer``)."""
    return [(tok, tag) for tok, tag in _TUPLE.findall(text)]


def read_ner(path: str | os.PathLike) -> list[NERRow]:
    out = []
    for r in _rows(path, ("input", "answer")):
        pairs = parse_tagged(r["answer"]) if isinstance(r["answer"], str) else [tuple(p) for p in r["answer"]]
        tokens = r["input"] if isinstance(r["input"], list) else [t for t, _ in pairs] or r["input"].split()
        out.append(NERRow([str(t) for t in tokens], [tag for _, tag in pairs]))
    return out


def ape_prompt(row: APERow, src_lang: str, tgt_lang: str) -> str:
    src, tgt = language_name(src_lang), language_name(tgt_lang)
    return (f"{src} source: {row.src}\n{tgt} translation: {row.mt}\n"
            f"Correct the {tgt} translation so that it renders the {src} source accurately and "
            f"fluently; change nothing that is already right and answer with the corrected "
            f"translation only.\nCorrected {tgt} translation:")


def ner_prompt(row: NERRow) -> str:
    types = "\n".join(f"- {name}: {desc}" for name, desc in NER_TYPES.items())
    tokens = json.dumps(row.tokens, ensure_ascii=False)
    return (f"Label the named entities in this list of tokens: {tokens}\n"
            f"Entity types:\n{types}\n"
            "Give the first token of an entity B-<type>, each following token of it I-<type>, and "
            f"every other token {NOENT}. Answer with one (\"token\", \"label\") pair per token, as a "
            "list.\nAnswer:")


# ------------------------------------------------------------------------------ NER F1
def clean_tags(tags: Sequence[str], n: int) -> list[str]:
    """Labels of the six types (others → O), cut or padded with O to ``n`` (the reference's
    length), as tower-eval aligns a hypothesis before conlleval."""
    out = [t if t[2:] in NER_TYPES and t[:2] in ("B-", "I-") else NOENT for t in tags[:n]]
    return out + [NOENT] * (n - len(out))


def spans(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """conlleval's chunks: (type, start, end) with end exclusive; an I-X that follows O or
    another type starts a chunk, as conlleval reads it."""
    out, start, kind = set(), None, None
    for i, tag in enumerate([*tags, NOENT]):
        prefix, t = tag[:2], tag[2:]
        continues = prefix == "I-" and t == kind
        if start is not None and not continues:
            out.add((kind, start, i))
            start, kind = None, None
        if prefix in ("B-", "I-") and not continues:
            start, kind = i, t
    return out


def read_ner_scoring(hyps_file, refs_file) -> tuple[list[list[str]], list[list[str]]]:
    """(hypothesis tags, gold tags) per sentence: the decoded ``token/TAG`` lines and the gold
    JSON tag lists that TowerTaskPrompts wrote."""
    hyps = [[tag for _, tag in parse_tagged(line)] for line in read_lines(hyps_file)]
    refs = [json.loads(line) for line in read_lines(refs_file)]
    return hyps, refs


def _sentence_spans(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]):
    """(gold, predicted) span sets of each sentence, hypotheses cut or padded to the reference."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references")
    for r, h in zip(refs, hyps):
        r = clean_tags(r, len(r))
        yield spans(r), spans(clean_tags(h, len(r)))


def span_counts(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]) -> list[tuple[int, int, int]]:
    """(correct, predicted, gold) spans of each sentence: micro F1 is 2·Σcorrect / (Σpredicted +
    Σgold), so these are the per-item statistics a bootstrap over sentences resamples."""
    return [(len(g & p), len(p), len(g)) for g, p in _sentence_spans(refs, hyps)]


def span_f1(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]) -> dict:
    """Micro precision, recall, F1 (in [0, 1]) over every sentence's exact spans, and F1 per type."""
    gold, pred = set(), set()
    for i, (g, p) in enumerate(_sentence_spans(refs, hyps)):
        gold |= {(i, *s) for s in g}
        pred |= {(i, *s) for s in p}

    def prf(g, p):
        tp = len(g & p)
        prec = tp / len(p) if p else 0.0
        rec = tp / len(g) if g else 0.0
        return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    precision, recall, f1 = prf(gold, pred)
    per_type = {t: prf({s for s in gold if s[1] == t}, {s for s in pred if s[1] == t})[2] for t in NER_TYPES}
    return {"f1": f1, "precision": precision, "recall": recall, "f1_per_type": per_type,
            "n": len(refs), "n_gold_spans": len(gold), "n_pred_spans": len(pred)}
