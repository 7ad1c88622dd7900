"""FLEURS en→xx references rebuilt from FLORES (docs/paper.md §5).

FLEURS read aloud FLORES sentences but ships only the English side; its translations are the
FLORES sentences in the other languages. Each FLEURS transcript is matched to a FLORES English
sentence and the target-language reference is the FLORES sentence at the matched index.

Two modes:

* ``exact`` (the default, the paper path): the transcript is a FLORES sentence verbatim (only
  surrounding whitespace ignored), as in the authors' code (SpireLM
  ``scripts/build_fleurs_references.py``: a dictionary lookup in FLORES devtest, asserting that
  every FLEURS test sentence is found). A transcript that matches nothing is an error
  (:func:`check_matched`), never a silently empty reference.
* ``fuzzy`` (an explicit option only): exact match after normalisation (case, Unicode form,
  punctuation, spaces), then rapidfuzz ``fuzz.ratio`` ≥ threshold, for transcripts whose
  wording was edited during recording.
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


MODES = ("exact", "fuzzy")


def align(transcripts: Sequence[str], flores_en: Sequence[str], mode: str = "exact",
          threshold: float = 90.0, progress: bool = True) -> list[Match]:
    """One :class:`Match` per transcript (the first FLORES sentence wins among duplicates)."""
    if mode not in MODES:
        raise ValueError(f"FLEURS alignment mode {mode!r}: choose one of {MODES}")
    if mode == "exact":
        return _align_exact(transcripts, flores_en)
    return _align_fuzzy(transcripts, flores_en, threshold, progress)


def _align_exact(transcripts: Sequence[str], flores_en: Sequence[str]) -> list[Match]:
    index: dict[str, int] = {}
    for i, s in enumerate(flores_en):
        index.setdefault(s.strip(), i)
    out = []
    for t in transcripts:
        i = index.get(t.strip())
        out.append(Match(i, 100.0, "exact") if i is not None else Match(None, 0.0, "none"))
    return out


def _align_fuzzy(transcripts: Sequence[str], flores_en: Sequence[str], threshold: float,
                 progress: bool) -> list[Match]:
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


def check_matched(matches: Sequence[Match], transcripts: Sequence[str], source: str,
                  searched: Sequence[str], mode: str, shown: int = 5) -> None:
    """Raise ``ValueError`` naming ``source`` (the transcripts' file), the FLORES files
    ``searched`` and the first ``shown`` unmatched transcripts, if any transcript is unmatched."""
    unmatched = [i for i, m in enumerate(matches) if m.index is None]
    if not unmatched:
        return
    first = "; ".join(f"line {i + 1}: {transcripts[i][:80]!r}" for i in unmatched[:shown])
    raise ValueError(
        f"{source}: {len(unmatched)} of {len(matches)} FLEURS transcript(s) have no {mode} match in "
        f"{' '.join(searched)}; first: {first}. FLEURS test reads FLORES devtest verbatim (the "
        "authors' code asserts every sentence is found): check that the FLEURS split and the "
        "FLORES split agree and that FLORES is the FLORES+ release; --match fuzzy or "
        "--allow-unmatched only for a corpus that needs them.")


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
