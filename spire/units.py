"""Discrete speech units (DSUs) as text.

Unit ``i`` is written as the private-use character ``chr(0xF0000 + i)`` (docs/paper.md §1); a unit
sequence is the concatenation of those characters with no separator. Older SpireLM material writes
``<extra_id_i>`` instead; both forms round-trip here. This module is the one place that knows the
text form of a unit: everything else calls it.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

PUA_OFFSET = 0xF0000  # 983040, supplementary private use area A
MAX_UNITS = 0xFFFFD - PUA_OFFSET + 1  # plane 15 ends at U+FFFFD (U+FFFFE/F are non-characters)
UNIT_FORMATS = ("pua", "extra_id", "indices")
_EXTRA_ID = re.compile(r"<extra_id_(\d+)>")


def unit_char(i: int) -> str:
    """The private-use character of unit ``i``."""
    if not 0 <= i < MAX_UNITS:
        raise ValueError(f"unit index {i} outside [0, {MAX_UNITS})")
    return chr(PUA_OFFSET + i)


def is_unit_char(c: str) -> bool:
    return len(c) == 1 and PUA_OFFSET <= ord(c) < PUA_OFFSET + MAX_UNITS


def dedup_units(units: Sequence[int]) -> list[int]:
    """Collapse runs of identical consecutive units into one (``1 1 2 2 2 1`` → ``1 2 1``)."""
    out: list[int] = []
    for u in units:
        if not out or out[-1] != u:
            out.append(int(u))
    return out


def units_to_text(units: Iterable[int], fmt: str = "pua") -> str:
    """Render unit indices as a line of text in one of ``UNIT_FORMATS``."""
    units = [int(u) for u in units]
    if fmt == "pua":
        return "".join(unit_char(u) for u in units)
    if fmt == "extra_id":
        return "".join(f"<extra_id_{u}>" for u in units)
    if fmt == "indices":
        return " ".join(str(u) for u in units)
    raise ValueError(f"unknown unit format {fmt!r}; expected one of {UNIT_FORMATS}")


def text_to_units(text: str, fmt: str | None = None) -> list[int]:
    """Parse a line written by :func:`units_to_text`; ``fmt=None`` guesses it from the text."""
    text = text.strip()
    if not text:
        return []
    if fmt is None:
        fmt = "extra_id" if text.startswith("<extra_id_") else (
            "indices" if text[0].isdigit() else "pua")
    if fmt == "pua":
        bad = [c for c in text if not is_unit_char(c)]
        if bad:
            raise ValueError(f"not a unit character: {bad[0]!r} (U+{ord(bad[0]):04X})")
        return [ord(c) - PUA_OFFSET for c in text]
    if fmt == "extra_id":
        units = [int(m) for m in _EXTRA_ID.findall(text)]
        if _EXTRA_ID.sub("", text).strip():
            raise ValueError(f"text outside <extra_id_N> tokens in {text[:60]!r}")
        return units
    if fmt == "indices":
        return [int(t) for t in text.split()]
    raise ValueError(f"unknown unit format {fmt!r}; expected one of {UNIT_FORMATS}")


def convert_units_text(text: str, to_fmt: str, dedup: bool = False) -> str:
    """Re-write a unit line in another format, optionally deduplicating it."""
    units = text_to_units(text)
    return units_to_text(dedup_units(units) if dedup else units, to_fmt)
