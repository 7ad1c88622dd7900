"""spire.io readers: text that is not UTF-8 is an error naming file:line and byte offset."""
from __future__ import annotations

import pytest

from spire.io import NotUTF8Error, iter_jsonl, read_json, read_jsonl, read_lines, read_text


def test_non_utf8_text_names_file_line_and_offset(tmp_path):
    """Issue 31, case 7: a Latin-1 byte raised a bare UnicodeDecodeError naming no file."""
    refs = tmp_path / "refs.txt"
    refs.write_bytes("first line\nsecond\nna\xefve caf\xe9\n".encode("latin-1"))
    want = r"refs\.txt:3: not UTF-8 \(byte 0xef at byte offset 20\); re-encode the file as UTF-8"
    for read in (read_lines, read_text):
        with pytest.raises(NotUTF8Error, match=want):
            read(refs)
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(b'{"a": 1}\n\n{"a": "\xe9"}\n')
    with pytest.raises(ValueError, match=r"rows\.jsonl:3: not UTF-8 \(byte 0xe9 at byte offset 17\)"):
        read_jsonl(rows)
    got = iter_jsonl(rows)
    assert next(got) == {"a": 1}  # the lines before the bad one are read as before
    (tmp_path / "x.json").write_bytes(b'{\n "a": "\xff"}')
    with pytest.raises(ValueError, match=r"x\.json:2: not UTF-8"):
        read_json(tmp_path / "x.json")


def test_readers_keep_utf8_and_name_directories(tmp_path):
    f = tmp_path / "ok.txt"
    f.write_text("naïve\r\ncafé\n\nend", encoding="utf-8")
    assert read_lines(f) == ["naïve", "café", "", "end"]
    (tmp_path / "ok.jsonl").write_text('{"t": "ü"}\n\n{"t": "ß"}\n', encoding="utf-8")
    assert read_jsonl(tmp_path / "ok.jsonl") == [{"t": "ü"}, {"t": "ß"}]
    with pytest.raises(FileNotFoundError, match=r": is a directory, expected a file"):
        read_lines(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"gone\.txt: no such file"):
        read_lines(tmp_path / "gone.txt")


def test_dataset_files_that_are_not_utf8_are_named(tmp_path):
    """Manifests, dataset YAMLs and transcripts beside audio go through the same readers."""
    from spire.audio_data import open_audio_dataset

    (tmp_path / "m.tsv").write_bytes(b"id\taudio\ttext\nu1\ta.wav\tcaf\xe9\n")
    (tmp_path / "m.yaml").write_text("path: m.tsv\ntext_column: text\n")
    with pytest.raises(ValueError, match=r"m\.tsv:2: not UTF-8 \(byte 0xe9 at byte offset 26\)"):
        open_audio_dataset(tmp_path / "m.yaml")
    (tmp_path / "bad.yaml").write_bytes(b"path: m.tsv\n# r\xe9sum\xe9\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:2: not UTF-8"):
        open_audio_dataset(tmp_path / "bad.yaml")


def test_utf16_is_named_as_such(tmp_path):
    (tmp_path / "refs.txt").write_bytes("hello\nworld\n".encode("utf-16"))
    with pytest.raises(NotUTF8Error, match=r"refs\.txt:1: not UTF-8 but UTF-16 \(it starts with a "
                       r"byte-order mark\); re-encode the file as UTF-8, e.g. `iconv -f UTF-16"):
        read_lines(tmp_path / "refs.txt")
