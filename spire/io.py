"""File helpers shared by every task: atomic writes, line files, JSON/JSONL.

Task scripts write through :func:`atomic_path` so that an interrupted task never leaves a file
that looks complete (docs/design.md, runtime rules).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    Works for files and directories: whatever the caller creates at the temporary path replaces
    ``path`` as a whole when the block exits without an exception.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> int:
    """Write one line per item (newlines inside an item are an error: they would shift lines)."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for line in lines:
            if "\n" in line:
                raise ValueError(f"{path}: line {n + 1} contains a newline; it would shift the file")
            f.write(line + "\n")
            n += 1
    return n


class NotUTF8Error(ValueError):
    """A text file with bytes that are not UTF-8; the message says where (file:line, byte offset)."""


def utf8_error(path: str | os.PathLike) -> NotUTF8Error:
    """Where the first non-UTF-8 byte of ``path`` is, as an error to raise.

    Found by decoding line by line in binary (the caller's text read only says "position N" of
    some buffer); the line number is the one an editor shows (``\\n`` counts lines).
    """
    with open(path, "rb") as f:
        head = f.read(2)
    if head in (b"\xff\xfe", b"\xfe\xff"):  # a byte-order mark: Windows tools save "Unicode" so
        return NotUTF8Error(f"{path}:1: not UTF-8 but UTF-16 (it starts with a byte-order mark); "
                            "re-encode the file as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 FILE > NEW`")
    offset = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return NotUTF8Error(
                    f"{path}:{n}: not UTF-8 (byte 0x{raw[e.start]:02x} at byte offset {offset + e.start}); "
                    "re-encode the file as UTF-8, e.g. `iconv -f LATIN1 -t UTF-8 FILE > NEW` "
                    "(naming its real encoding)")
            offset += len(raw)
    return NotUTF8Error(f"{path}: not UTF-8; re-encode the file as UTF-8")


def _require_file(path: Path, what: str = "file") -> None:
    if path.is_dir():  # a FileNotFoundError still: callers catch that for "not a usable file"
        raise FileNotFoundError(f"{path}: is a directory, expected a {what}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")


def read_text(path: str | os.PathLike) -> str:
    """The whole of a UTF-8 text file; bytes that are not UTF-8 are an error naming file:line."""
    path = Path(path)
    _require_file(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise utf8_error(path) from None


def read_lines(path: str | os.PathLike) -> list[str]:
    """Lines of a UTF-8 text file without their newline (an empty line stays an empty string)."""
    path = Path(path)
    _require_file(path)
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n").rstrip("\r") for line in f]
    except UnicodeDecodeError:
        raise utf8_error(path) from None


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    return write_lines(path, (json.dumps(r, ensure_ascii=False) for r in rows))


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the objects of a JSONL file; a bad line is an error naming the file and line."""
    path = Path(path)
    _require_file(path)
    with open(path, "rb") as f:  # bytes: a bad line is found where it is, with its number
        for i, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise utf8_error(path) from None
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: invalid JSON: {e.msg}") from None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    return list(iter_jsonl(path))
