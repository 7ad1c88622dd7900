"""Pseudo-labelled speech translation (docs/paper.md §4).

English ASR corpora (SPGI, GigaSpeech, CommonVoice) have transcripts but no translations. Their
transcripts are machine-translated (by the decoding task) into each target language; every
translation is scored by a quality estimator, those scoring at least a threshold are kept
(0.85 COMET in the authors' later code), the kept ones are subsampled per language pair, and each
is paired with its utterance's units to make an ST conversation (direct and/or multi-turn).
With several MT systems per language, each line keeps the best-scoring system's translation
("best of two MT systems by COMET" in the authors' later code).

Scorers (all on a 0–1 scale, so one ``threshold`` reads the same for each):

- ``comet``: a COMET model through unbabel-comet (checkpoint path, model folder or hub id).
  Reference-free (QE, e.g. ``Unbabel/wmt22-cometkiwi-da``) when no references are given,
  reference-based (e.g. ``Unbabel/wmt22-comet-da``) otherwise. The full-scale scorer.
- ``chrf_ref``: sentence chrF (sacreBLEU) against a reference translation, divided by 100.
  **The miniature's stand-in** for COMET: no COMET model exists for the toy languages, but their
  rules (:mod:`spire.mini.toy_lang`) give exact references, so chrF measures how right the MT
  model is. Not usable where no reference exists (the real pseudo-labelling setting).
- ``length_ratio``: min(r, 1/r) for r = characters of translation / characters of source.
  A crude reference-free sanity filter (drops empty, truncated or runaway outputs); it says
  nothing about adequacy and is no substitute for COMET.
- ``given``: scores that come with the translations (the authors' published pseudo-labelled sets
  carry their CometKiwi score, ``cometqe_22``), one file per system, nothing recomputed.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Sequence

from spire.io import read_json, write_json
from spire.it_data import st_rows
from spire.languages import language_name
from spire.log import get_logger

log = get_logger(__name__)

SCORERS = ("comet", "chrf_ref", "length_ratio", "given")


# --------------------------------------------------------------------------- scorers

def chrf_ref_scores(hyps: Sequence[str], refs: Sequence[str]) -> list[float]:
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    return [chrf.sentence_score(h, [r]).score / 100.0 for h, r in zip(hyps, refs)]


def length_ratio_scores(srcs: Sequence[str], hyps: Sequence[str]) -> list[float]:
    out = []
    for s, h in zip(srcs, hyps):
        a, b = len(s.strip()), len(h.strip())
        out.append(0.0 if a == 0 or b == 0 else min(a, b) / max(a, b))
    return out


def comet_scores(srcs: Sequence[str], hyps: Sequence[str], refs: Sequence[str] | None,
                 model, batch_size: int | None = None, gpus: int | None = None) -> list[float]:
    """Segment scores of a COMET model (a loaded model, or anything :func:`spire.metrics.load_comet`
    takes); references only when given, so QE models work without them. ``batch_size``: default
    larger on GPU (:func:`spire.metrics.comet_batch_size`)."""
    from spire.metrics import comet_batch_size, load_comet

    if gpus is None:
        import torch
        gpus = 1 if torch.cuda.is_available() else 0
    comet = load_comet(model) if isinstance(model, str) else model
    if refs is None:
        data = [{"src": s, "mt": h} for s, h in zip(srcs, hyps)]
    else:
        data = [{"src": s, "mt": h, "ref": r} for s, h, r in zip(srcs, hyps, refs)]
    out = comet.predict(data, batch_size=comet_batch_size(batch_size, gpus), gpus=gpus,
                        progress_bar=True,
                        num_workers=0 if gpus == 0 else None)
    return [float(x) for x in out.scores]


def score(scorer: str, srcs: Sequence[str], hyps: Sequence[str],
          refs: Sequence[str] | None = None, comet_model=None,
          batch_size: int | None = None) -> list[float]:
    """Quality scores (0–1) of ``hyps`` as translations of ``srcs`` with the named scorer."""
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; expected one of {SCORERS}")
    if not hyps:
        return []
    if scorer == "chrf_ref":
        if refs is None:
            raise ValueError("scorer chrf_ref needs reference translations (--references LANG=PATH)")
        return chrf_ref_scores(hyps, refs)
    if scorer == "length_ratio":
        return length_ratio_scores(srcs, hyps)
    if comet_model is None:
        raise ValueError("scorer comet needs a COMET model (--comet-model PATH_OR_HUB_ID)")
    return comet_scores(srcs, hyps, refs, comet_model, batch_size=batch_size)


def cached(cache_dir: str | Path | None, key: list, compute) -> list[float]:
    """``compute()``, stored in ``cache_dir`` under a hash of ``key`` (scorer, model, texts)."""
    if cache_dir is None:
        return compute()
    h = hashlib.sha256()
    for part in key:  # streamed: the texts can be millions of lines
        if isinstance(part, list):
            h.update(b"[%d]" % len(part))
            for text in part:
                h.update(text.encode("utf-8") + b"\0")
        else:
            h.update(json.dumps(part).encode("utf-8") + b"\0")
    path = Path(cache_dir) / f"scores.{h.hexdigest()[:24]}.json"
    if path.is_file():
        log.info("reusing scores from %s", path)
        return read_json(path)
    scores = compute()
    write_json(path, scores)
    return scores


# --------------------------------------------------------------------------- selection

def best_of(system_scores: Sequence[Sequence[float]]) -> tuple[list[int], list[float]]:
    """Per line, the index of the best-scoring system (first on ties) and its score."""
    best_sys, best = [], []
    for line_scores in zip(*system_scores):
        k = max(range(len(line_scores)), key=lambda j: (line_scores[j], -j))
        best_sys.append(k)
        best.append(line_scores[k])
    return best_sys, best


def select(indices: Sequence[int], scores: Sequence[float], threshold: float,
           max_examples: int | None, seed: int, pair: str) -> tuple[list[int], list[int]]:
    """``(kept, chosen)``: the indices scoring ≥ ``threshold``, and a seeded subsample of at most
    ``max_examples`` of them (in their original order; the RNG is seeded with seed and pair so
    each pair's draw is independent of the others). ``max_examples`` None or 0 keeps every kept
    line, as the authors' ``n_lines`` 0 ("take everything that reaches the threshold")."""
    kept = [i for i, s in zip(indices, scores) if s >= threshold]
    if not max_examples or len(kept) <= max_examples:
        return kept, list(kept)
    rng = random.Random(f"pseudo-label:{seed}:{pair}")
    return kept, sorted(rng.sample(kept, max_examples))


def pseudo_label_pair(units: Sequence[str], transcripts: Sequence[str],
                      systems: Sequence[Sequence[str]], tgt: str, scorer: str, threshold: float,
                      max_examples: int | None = None, seed: int = 42,
                      references: Sequence[str] | None = None, comet_model=None,
                      batch_size: int | None = None, cache_dir: str | Path | None = None,
                      comet_id: str | None = None,
                      given_scores: Sequence[Sequence[float]] | None = None) -> dict:
    """Score, filter and subsample one language pair's MT hypotheses.

    Lines with empty units, transcript or hypothesis (unreadable audio, failed decode) are not
    scored. With ``cache_dir``, each system's scores are saved there once computed and reused by
    a later run on the same inputs (a COMET pass over millions of lines is hours of GPU time that
    an interrupted task should not repeat); ``comet_id`` names the model in the cache key. Returns ``{"chosen", "translations", "scores", "systems", "stats"}`` where the lists are
    indexed by line and ``chosen`` holds the selected line indices.
    """
    language_name(tgt)
    pair = f"en-{tgt}"
    n = len(units)
    valid = [i for i in range(n)
             if units[i].strip() and transcripts[i].strip() and any(s[i].strip() for s in systems)]
    srcs = [transcripts[i].strip() for i in valid]
    refs = [references[i].strip() for i in valid] if references is not None else None
    per_system = []
    if scorer == "given":
        if given_scores is None or len(given_scores) != len(systems):
            raise ValueError("scorer given needs one score file per system (--given-scores LANG=PATH)")
        systems_scores = [[float(g[i]) for i in valid] for g in given_scores]
    for k, sys in enumerate(systems):
        hyps = [sys[i].strip() for i in valid]
        if scorer == "given":
            per_system.append(systems_scores[k])
            continue
        per_system.append(cached(
            cache_dir, [scorer, comet_id if scorer == "comet" else None, srcs, hyps, refs],
            lambda: score(scorer, srcs, hyps, refs, comet_model, batch_size)))
    # An empty hypothesis never wins: it would be an empty assistant turn.
    per_system = [[s if sys[i].strip() else float("-inf") for s, i in zip(scores, valid)]
                  for scores, sys in zip(per_system, systems)]
    which, best = best_of(per_system) if valid else ([], [])
    kept, chosen = select(valid, best, threshold, max_examples, seed, pair)
    translations = [""] * n
    scores: list[float | None] = [None] * n
    system_of: list[int | None] = [None] * n
    for i, k, s in zip(valid, which, best):
        translations[i] = systems[k][i].strip()
        scores[i] = s
        system_of[i] = k
    finite = [s for s in best if s != float("-inf")]
    stats = {
        "lines": n,
        "empty": n - len(valid),
        "scored": len(valid),
        "kept": len(kept),
        "subsampled": len(chosen),
        "mean_score": (sum(finite) / len(finite)) if finite else None,
        "best_system_counts": [which.count(j) for j in range(len(systems))],
    }
    return {"chosen": chosen, "translations": translations, "scores": scores,
            "systems": system_of, "stats": stats}


def pseudo_label_rows(templates: dict, units: Sequence[str], transcripts: Sequence[str],
                      results: dict[str, dict], source: str, fmt: str = "direct", seed: int = 42,
                      units_path: str = "units", unit_format: str = "pua") -> list[dict]:
    """ST conversations of the chosen lines of each pair (rows carry ``pseudo`` and ``score``)."""
    rows = []
    for tgt, res in results.items():
        extra = {tgt: [{"pseudo": True, "score": s} for s in res["scores"]]}
        rows.extend(st_rows(templates, units, {tgt: res["translations"]}, source,
                            transcripts=transcripts, fmt=fmt, seed=seed, units_path=units_path,
                            unit_format=unit_format, extra=extra, keep=res["chosen"]))
    return rows
