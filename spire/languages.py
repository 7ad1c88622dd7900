"""Language codes and the names used inside prompts (``English:``, ``German:``...).

The paper's languages (docs/paper.md §4–§5) plus the miniature's two toy languages, which are made by
deterministic rules from English (see :mod:`spire.mini.toy_lang`) so that speech translation and
MT have exact references without any download.
"""
from __future__ import annotations

LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "ko": "Korean",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "zh": "Chinese",
    # miniature toy languages
    "ty": "Toyish",
    "rv": "Mirrorish",
}


def language_name(code: str) -> str:
    """Prompt name of a language code; an unknown code is an error that lists the known ones."""
    try:
        return LANGUAGE_NAMES[code]
    except KeyError:
        raise ValueError(
            f"unknown language code {code!r}; known: {', '.join(sorted(LANGUAGE_NAMES))} "
            "(add it to spire/languages.py)") from None


def parse_pair(pair: str) -> tuple[str, str]:
    """``"en-de"`` or ``"en_de"`` → ``("en", "de")``, both checked."""
    parts = pair.replace("_", "-").split("-")
    if len(parts) != 2:
        raise ValueError(f"bad language pair {pair!r}; expected SRC-TGT such as en-de")
    language_name(parts[0]), language_name(parts[1])
    return parts[0], parts[1]
