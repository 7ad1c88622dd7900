"""The miniature's text side: English text-only sentences and their toy-language translations.

The text base model ("mini TowerBase") is trained on this text and parallel text, just as
TowerBase was trained on monolingual and parallel data before Spire added speech. The speech
corpus's transcripts are translated by the same rules so speech translation has exact
references.
"""
from __future__ import annotations

import os
from pathlib import Path

from spire.io import atomic_path, read_lines, write_lines
from spire.log import get_logger, log_read, log_wrote
from spire.mini.grammar import text_sentences
from spire.mini.toy_lang import translate_lines

log = get_logger("spire.mini.text")


def build_mini_text(out_dir: str | os.PathLike, n_text: int, langs: list[str],
                    transcripts: dict[str, str | os.PathLike], seed: int = 1) -> Path:
    """Write ``text.en`` + ``text.<lang>`` (parallel text-only sentences, none of them a
    transcript of any speech split) and ``<split>.en`` + ``<split>.<lang>`` for every transcript
    file given."""
    splits = {name: read_lines(path) for name, path in transcripts.items()}
    for name, path in transcripts.items():
        log_read(log, f"{name} transcripts", path, f"{len(splits[name])} lines")
    # Exclude every transcript so the test sentences stay unseen and text never duplicates speech.
    exclude = {s for lines in splits.values() for s in lines}
    english = text_sentences(n_text, seed=seed, exclude=exclude)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_lines(tmp / "text.en", english)
        for lang in langs:
            write_lines(tmp / f"text.{lang}", translate_lines(english, lang))
            for name, lines in splits.items():
                write_lines(tmp / f"{name}.{lang}", translate_lines(lines, lang))
        for name, lines in splits.items():  # English too, so a split's files share one prefix
            write_lines(tmp / f"{name}.en", lines)
    log_wrote(log, "mini text", out_dir,
              f"{len(english)} sentences x {1 + len(langs)} languages; splits {sorted(splits)}")
    return Path(out_dir)
