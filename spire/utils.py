"""Small helpers named in the seed README (``spire.utils.fix_fleurs_path``)."""
from __future__ import annotations

import os
from typing import Any


def fix_fleurs_path(example: dict, split: str) -> Any:
    """Audio for a FLEURS example loaded with ``datasets`` that ``Labeler`` accepts.

    The FLEURS loading script stores ``path`` as ``<extracted archive>/<file>.wav`` while the file
    actually lies in ``<extracted archive>/<split>/<file>.wav`` (``dev`` for the validation split).
    Returns the first existing file path; otherwise the example's decoded audio dict (which the
    labeller also accepts); otherwise raises naming the paths tried.
    """
    path = example.get("path")
    tried = []
    if path:
        folder = "dev" if split == "validation" else split
        for candidate in (path, os.path.join(os.path.dirname(path), folder, os.path.basename(path))):
            tried.append(candidate)
            if os.path.isfile(candidate):
                return candidate
    audio = example.get("audio")
    if isinstance(audio, dict) and (audio.get("array") is not None or audio.get("bytes")):
        return audio
    raise FileNotFoundError(f"FLEURS example {example.get('id')!r}: no audio file at {tried} "
                            "and no decoded audio in the example")
