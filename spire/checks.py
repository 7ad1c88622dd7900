"""Checks of values where a task reads them: argparse ``type=`` validators and path checks.

A bad value should stop a task before any work, with a message that names the option (and the
tconf variable the workflow fills it from) and what to write instead, not a library's traceback
minutes later or, worse, a run that quietly does something else (``--max-lines -1`` dropping the
last line, ``--num-units 0`` giving a tokenizer without units).

    p.add_argument("--n-clusters", type=positive_int.from_tconf("kmeans_clusters"))
    p.add_argument("--threshold", type=fraction)
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Number:
    """An argparse ``type=``: a number of ``kind`` within ``[low, high]`` (``low`` excluded when
    ``open_low``). ``tconf``: the workflow variable that fills the option, named in the error."""
    kind: type
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    tconf: str | None = None

    @property
    def __name__(self) -> str:  # argparse names the type in some messages
        return self.describe()

    def describe(self) -> str:
        what = "a whole number" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            return f"{what} from {self.low:g} to {self.high:g}"
        if self.low is not None:
            return f"{what} {'>' if self.open_low else '>='} {self.low:g}"
        return what

    def from_tconf(self, variable: str) -> "Number":
        return replace(self, tconf=variable)

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            value = None
        ok = value is not None and math.isfinite(value) and \
            (self.low is None or value > self.low or (value == self.low and not self.open_low)) and \
            (self.high is None or value <= self.high)
        if not ok:
            where = f" (set by the tconf variable {self.tconf}: fix it in your config)" if self.tconf else ""
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.describe()}{where}")
        return value


positive_int = Number(int, low=1)
nonneg_int = Number(int, low=0)
positive_float = Number(float, low=0, open_low=True)
nonneg_float = Number(float, low=0)
fraction = Number(float, low=0, high=1)


def looks_like_path(value: str) -> bool:
    """A local path rather than a hub id (``org/name``): absolute, relative with ./ or ../, ~, or
    with more than one slash."""
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or os.sep != "/" and os.sep in value


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "sp.model")


def tokenizer_source(value: str, flag: str) -> str:
    """``value`` as given, once it is a directory holding a tokenizer or a hub id: a path that
    does not exist, or a folder without tokenizer files, is an error naming ``flag``."""
    p = Path(value).expanduser()
    if p.is_dir():
        if not any((p / n).is_file() for n in TOKENIZER_FILES):
            raise SystemExit(f"{flag} {value}: no tokenizer in this directory (none of "
                             f"{list(TOKENIZER_FILES)}); give a save_pretrained tokenizer or model folder")
        return value
    if p.exists():
        raise SystemExit(f"{flag} {value}: a file, not a tokenizer directory")
    if looks_like_path(value):
        raise SystemExit(f"{flag} {value}: no such directory (a local path; a hub id is ORG/NAME)")
    return value
