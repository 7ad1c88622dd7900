"""The miniature's two toy target languages, made from English by deterministic rules.

A CPU miniature cannot download German or Chinese, but speech translation and MT still need
targets with exact references. Each toy language is a fixed function of the English sentence:

- ``ty`` **Toyish**: word-by-word lexical substitution. Every English word maps to a pseudo-word
  built from consonant-vowel syllables chosen by a SHA-256 hash of the word, so the rule works for
  any vocabulary, never changes between processes (Python's ``hash()`` is salted per process) and
  gives a one-to-one lexicon that a tiny LM learns as word translation.
- ``rv`` **Mirrorish**: the same kind of substitution with a different syllable inventory
  (vowel-consonant syllables, a different hash salt) **and reversed word order**, like a strictly
  head-final language. Reversal is a fixed permutation that attention learns readily, so ST into
  ``rv`` exercises reordering rather than monotone copying.

Tokens: words (letters, with inner apostrophes), numbers (kept unchanged) and punctuation (kept
unchanged). Words are lower-cased before hashing; a capitalised English word gives a capitalised
pseudo-word, so sentence case is carried across. In Mirrorish, sentence-final punctuation stays at
the end and the capital moves to the new first word.

Pseudo-words have 2 syllables for English words of one or two letters and 3 otherwise: short
enough for a small SentencePiece vocabulary to learn them as pieces, with 70**2 / 70**3 possible
forms, so collisions are rare (6 among 2,000 random letter strings) but possible: the mapping is
invertible only over a given vocabulary (:func:`inverse_lexicon` reports any collision).
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable

TOY_LANGUAGES = ("ty", "rv")

_CONSONANTS = "bdfgklmnprstvz"  # 14
_VOWELS = "aeiou"  # 5
# Toyish: CV syllables ("ba", "ke", ...); Mirrorish: VC syllables ("ab", "ek", ...), so that the
# two languages share no pseudo-words and a model cannot confuse their lexicons.
_SYLLABLES = {
    "ty": [c + v for c in _CONSONANTS for v in _VOWELS],
    "rv": [v + c for v in _VOWELS for c in _CONSONANTS],
}
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+|\S")
_FINAL_PUNCT = set(".!?")
_NO_SPACE_BEFORE = set(".,!?;:%)]}")
_NO_SPACE_AFTER = set("([{")


def _check_lang(lang: str) -> None:
    if lang not in TOY_LANGUAGES:
        raise ValueError(f"unknown toy language {lang!r}; expected one of {TOY_LANGUAGES}")


def _is_word(token: str) -> bool:
    return token[0].isalpha()


def toy_word(word: str, lang: str) -> str:
    """The pseudo-word of one English word (case-insensitive; capitalisation is carried over)."""
    _check_lang(lang)
    key = word.lower()
    digest = hashlib.sha256(f"{lang}:{key}".encode("utf-8")).digest()
    syllables = _SYLLABLES[lang]
    n = 2 if len(key) <= 2 else 3
    # Two digest bytes per syllable keep the choice close to uniform over 70 syllables.
    out = "".join(syllables[int.from_bytes(digest[2 * i:2 * i + 2], "big") % len(syllables)]
                  for i in range(n))
    return out.capitalize() if word[0].isupper() else out


def tokenize(sentence: str) -> list[str]:
    """Words, numbers and single punctuation marks of an English sentence."""
    return _TOKEN.findall(sentence)


def detokenize(tokens: Iterable[str]) -> str:
    """Join tokens with spaces, except before closing and after opening punctuation."""
    out = ""
    prev = ""
    for tok in tokens:
        if out and tok not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            out += " "
        out += tok
        prev = tok
    return out


def translate(sentence: str, lang: str) -> str:
    """Translate one English sentence into toy language ``lang`` (``ty`` or ``rv``)."""
    _check_lang(lang)
    tokens = tokenize(sentence)
    out = [toy_word(t, lang) if _is_word(t) else t for t in tokens]
    if lang == "rv":
        tail: list[str] = []
        while out and out[-1] in _FINAL_PUNCT:
            tail.insert(0, out.pop())
        starts_upper = bool(out) and _is_word(tokens[0]) and tokens[0][0].isupper()
        out.reverse()
        if starts_upper:  # sentence case follows the position, not the word
            out = [t.lower() if _is_word(t) else t for t in out]
            if _is_word(out[0]):
                out[0] = out[0].capitalize()
        out += tail
    return detokenize(out)


def translate_lines(lines: Iterable[str], lang: str) -> list[str]:
    return [translate(line, lang) for line in lines]


def inverse_lexicon(vocabulary: Iterable[str], lang: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Pseudo-word → English word over ``vocabulary`` (lower-cased), and the collisions found.

    Collisions map one pseudo-word to several English words; the first (sorted) wins in the lexicon.
    """
    _check_lang(lang)
    by_form: dict[str, list[str]] = {}
    for word in sorted({w.lower() for w in vocabulary if w and _is_word(w)}):
        by_form.setdefault(toy_word(word, lang), []).append(word)
    lexicon = {form: words[0] for form, words in by_form.items()}
    collisions = {form: words for form, words in by_form.items() if len(words) > 1}
    return lexicon, collisions


def back_translate(sentence: str, lang: str, lexicon: dict[str, str]) -> str:
    """Map a toy sentence back to (lower-cased) English with an :func:`inverse_lexicon`.

    Unknown pseudo-words stay as they are; Mirrorish word order is reversed back.
    """
    _check_lang(lang)
    tokens = tokenize(sentence)
    out = [lexicon.get(t.lower(), t) if _is_word(t) else t for t in tokens]
    if lang == "rv":
        tail: list[str] = []
        while out and out[-1] in _FINAL_PUNCT:
            tail.insert(0, out.pop())
        out = out[::-1] + tail
    return detokenize(out)
