"""FLEURS en→xx references rebuilt from FLORES (docs/paper.md §5).

FLEURS read aloud FLORES sentences but ships only the English side; its translations are the
FLORES sentences in the other languages. Each FLEURS transcript is matched to a FLORES English
sentence: first by exact match after normalisation (case, Unicode form, punctuation, spaces), then
by fuzzy match (rapidfuzz ``fuzz.ratio`` ≥ threshold) for transcripts whose wording was edited
during recording. The target-language reference is the FLORES sentence at the matched index.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from tqdm.auto import tqdm


@dataclass(frozen=True)
class Match:
    index: int | None  # index into the FLORES sentences; None: unmatched
    score: float       # 100 for exact matches, the fuzzy ratio otherwise (0 when unmatched)
    method: str        # "exact", "fuzzy" or "none"


def normalize_sentence(text: str) -> str:
    """Lower-case, NFKC, punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return re.sub(r"\s+", " ", text).strip()


def align(transcripts: Sequence[str], flores_en: Sequence[str], threshold: float = 90.0,
          progress: bool = True) -> list[Match]:
    """One :class:`Match` per transcript (the first FLORES sentence wins among duplicates)."""
    from rapidfuzz import fuzz, process

    norm_flores = [normalize_sentence(s) for s in flores_en]
    exact: dict[str, int] = {}
    for i, s in enumerate(norm_flores):
        exact.setdefault(s, i)
    out = []
    for t in tqdm(transcripts, desc="align FLEURS", unit="utt", disable=not progress):
        n = normalize_sentence(t)
        if n in exact:
            out.append(Match(exact[n], 100.0, "exact"))
            continue
        best = process.extractOne(n, norm_flores, scorer=fuzz.ratio, score_cutoff=threshold)
        out.append(Match(best[2], float(best[1]), "fuzzy") if best else Match(None, 0.0, "none"))
    return out


def references(matches: Sequence[Match], flores_tgt: Sequence[str]) -> list[str]:
    """Target-language reference per transcript ('' where unmatched, so lines never shift)."""
    return [flores_tgt[m.index] if m.index is not None else "" for m in matches]


def summary(matches: Sequence[Match], transcripts: Sequence[str]) -> dict:
    unmatched = [i for i, m in enumerate(matches) if m.index is None]
    return {
        "n": len(matches),
        "exact": sum(m.method == "exact" for m in matches),
        "fuzzy": sum(m.method == "fuzzy" for m in matches),
        "unmatched": len(unmatched),
        "unmatched_items": [{"line": i + 1, "transcript": transcripts[i]} for i in unmatched],
        "fuzzy_items": [{"line": i + 1, "score": m.score, "flores_index": m.index}
                        for i, m in enumerate(matches) if m.method == "fuzzy"],
    }
