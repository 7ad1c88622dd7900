"""Unit text forms (spire.units): PUA round trips, dedup, <extra_id_i>, indices."""
from __future__ import annotations

import pytest

from spire.units import (PUA_OFFSET, convert_units_text, dedup_units, text_to_units, unit_char,
                         units_to_text)


def test_pua_round_trip_and_offset():
    units = [0, 1, 4999, 17, 17, 3]
    text = units_to_text(units)
    assert text[0] == chr(983040) and ord(text[2]) == PUA_OFFSET + 4999
    assert len(text) == len(units) and " " not in text
    assert text_to_units(text) == units
    assert text_to_units(text.encode("utf-8").decode("utf-8")) == units  # survives UTF-8


def test_dedup():
    assert dedup_units([1, 1, 2, 2, 2, 1, 3, 3]) == [1, 2, 1, 3]
    assert dedup_units([]) == []
    assert convert_units_text(units_to_text([5, 5, 6]), "pua", dedup=True) == unit_char(5) + unit_char(6)


def test_extra_id_and_indices():
    units = [12, 7, 7, 4999]
    assert units_to_text(units, "extra_id") == "<extra_id_12><extra_id_7><extra_id_7><extra_id_4999>"
    assert text_to_units(units_to_text(units, "extra_id")) == units
    assert units_to_text(units, "indices") == "12 7 7 4999"
    assert text_to_units("12 7 7 4999") == units
    assert convert_units_text("<extra_id_3><extra_id_3><extra_id_1>", "pua", dedup=True) == unit_char(3) + unit_char(1)


def test_bad_unit_text():
    with pytest.raises(ValueError, match="not a unit character"):
        text_to_units("abc", "pua")
    with pytest.raises(ValueError, match="outside"):
        unit_char(-1)
    with pytest.raises(ValueError, match="unknown unit format"):
        units_to_text([1], "hex")
