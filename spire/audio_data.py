"""Audio dataset sources, sharding and batching by seconds.

A dataset is described by a small YAML file (docs/design.md, "audio dataset config")::

    path: train.jsonl        # HF hub id | load_from_disk dir | .jsonl/.tsv manifest | audio folder
    config: null             # hub config name (e.g. en_us for google/fleurs)
    split: train             # hub split / DatasetDict key (default: train)
    audio_column: audio      # default: audio
    text_column: text        # optional
    id_column: id            # optional (default: row index / file stem)

A relative ``path`` is resolved against the YAML file's directory when it exists there, so a
config can sit beside its manifest. Manifest rows give the audio as a file path, relative to the
manifest's directory unless absolute. Rows are always returned in dataset order; audio is *not*
decoded here (``spire.audio.load_audio`` does that, turning bad audio into an empty line).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from spire.log import get_logger

log = get_logger(__name__)
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus")
_KEYS = {"path", "config", "split", "audio_column", "text_column", "id_column"}


@dataclass
class DatasetConfig:
    path: str
    config: str | None = None
    split: str | None = None
    audio_column: str = "audio"
    text_column: str | None = None
    id_column: str | None = None
    source: str = field(default="<inline>", compare=False)  # where the config came from, for errors


@dataclass
class Record:
    index: int            # position in the dataset
    id: str
    audio: Any            # a path or an HF audio dict: anything spire.audio.load_audio accepts
    text: str | None = None
    duration: float | None = None


def load_dataset_config(path: str | os.PathLike) -> DatasetConfig:
    """Read a dataset YAML; unknown keys and a missing ``path`` are errors naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset config {path}: no such file")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"dataset config {path}: expected a mapping with keys {sorted(_KEYS)}")
    unknown = set(data) - _KEYS
    if unknown:
        raise ValueError(f"dataset config {path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    if not data.get("path"):
        raise ValueError(f"dataset config {path}: 'path' is required")
    local = path.parent / str(data["path"])
    if not Path(str(data["path"])).is_absolute() and local.exists():
        data["path"] = str(local)
    return DatasetConfig(**{k: (str(v) if v is not None else None) for k, v in data.items()},
                         source=str(path))


class AudioDataset:
    """Rows of an audio dataset in order: ``len(ds)``, ``ds.records(start, end)``."""

    def __init__(self, cfg: DatasetConfig):
        self.cfg = cfg
        self._rows: list[dict] | None = None
        self._hf = None
        p = Path(cfg.path)
        if p.is_file() and p.suffix in (".jsonl", ".json"):
            from spire.io import read_jsonl

            self._rows, self._root = read_jsonl(p), p.parent
        elif p.is_file() and p.suffix == ".tsv":
            self._rows, self._root = _read_tsv(p), p.parent
        elif p.is_dir() and ((p / "state.json").is_file() or (p / "dataset_dict.json").is_file()):
            self._hf = _no_decode(_load_from_disk(p, cfg.split), cfg)
        elif p.is_dir():
            self._rows, self._root = _audio_folder(p), p
            self.cfg.audio_column = "audio"
            self.cfg.id_column = self.cfg.id_column or "id"
        elif p.exists():
            raise ValueError(f"{cfg.source}: path {p} is neither a .jsonl/.tsv manifest nor a directory")
        elif cfg.path.startswith((".", "/")) or cfg.path.count("/") > 1:
            raise FileNotFoundError(f"{cfg.source}: dataset path {cfg.path} does not exist")
        else:
            self._hf = _load_hub(cfg)
        self._check_columns()

    @property
    def columns(self) -> list[str]:
        if self._hf is not None:
            return list(self._hf.column_names)
        return sorted({k for r in self._rows[:1000] for k in r}) if self._rows else []

    def _check_columns(self) -> None:
        cols = self.columns
        for opt in ("audio_column", "text_column", "id_column"):
            name = getattr(self.cfg, opt)
            if name is not None and len(self) and name not in cols:
                raise ValueError(f"{self.cfg.source}: {opt} {name!r} is not a column of {self.cfg.path}; "
                                 f"columns are {cols}")

    def __len__(self) -> int:
        return len(self._hf) if self._hf is not None else len(self._rows)

    def records(self, start: int = 0, end: int | None = None) -> list[Record]:
        end = len(self) if end is None else min(end, len(self))
        c = self.cfg
        if self._hf is not None:
            cols = self._hf[start:end]
            rows = [{k: cols[k][i] for k in cols} for i in range(end - start)]
        else:
            rows = self._rows[start:end]
        out = []
        for i, row in enumerate(rows, start):
            audio = row[c.audio_column]
            if self._hf is None and isinstance(audio, str) and not os.path.isabs(audio):
                audio = str(self._root / audio)
            dur = row.get("duration")
            out.append(Record(index=i, id=str(row[c.id_column]) if c.id_column else str(i), audio=audio,
                              text=row[c.text_column] if c.text_column else None,
                              duration=float(dur) if isinstance(dur, (int, float)) else None))
        return out


def open_audio_dataset(config: str | os.PathLike | DatasetConfig) -> AudioDataset:
    cfg = config if isinstance(config, DatasetConfig) else load_dataset_config(config)
    return AudioDataset(cfg)


def _read_tsv(path: Path) -> list[dict]:
    """A TSV manifest with a header row, or fairseq's format (root dir line, then path<TAB>frames)."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().splitlines()
    if not lines:
        return []
    if "\t" not in lines[0]:  # fairseq wav2vec/HuBERT manifest
        root = Path(lines[0])
        rows = []
        for n, line in enumerate(lines[1:], 2):
            parts = line.split("\t")
            if len(parts) != 2:
                raise ValueError(f"{path}:{n}: expected 'relative_path<TAB>num_samples'")
            rows.append({"audio": str(root / parts[0]), "id": Path(parts[0]).stem})
        return rows
    reader = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    rows = []
    for n, row in enumerate(reader, 2):
        if None in row:
            raise ValueError(f"{path}:{n}: more fields than the header has columns")
        if "duration" in row and row["duration"]:
            row["duration"] = float(row["duration"])
        rows.append(row)
    return rows


def _audio_folder(root: Path) -> list[dict]:
    """Audio files under ``root`` in sorted order; a ``.txt`` beside a file gives its text.

    Hand-written rather than ``datasets``' "audiofolder" builder: that builder copies everything
    into an Arrow cache before the first row can be read, which costs a full pass over a folder
    that we only need to list.
    """
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    rows = []
    for p in files:
        txt = p.with_suffix(".txt")
        rows.append({"id": str(p.relative_to(root).with_suffix("")), "audio": str(p),
                     "text": txt.read_text(encoding="utf-8").strip() if txt.is_file() else None})
    return rows


def _no_decode(ds, cfg: DatasetConfig):
    """Keep audio undecoded ({path, bytes}) so spire.audio decodes it and bad files become empty lines."""
    from datasets import Audio

    if cfg.audio_column in ds.column_names and isinstance(ds.features.get(cfg.audio_column), Audio):
        ds = ds.cast_column(cfg.audio_column, Audio(decode=False))
    return ds


def _load_from_disk(path: Path, split: str | None):
    from datasets import DatasetDict, load_from_disk

    ds = load_from_disk(str(path))
    if isinstance(ds, DatasetDict):
        split = split or "train"
        if split not in ds:
            raise ValueError(f"{path}: no split {split!r}; splits are {list(ds)}")
        ds = ds[split]
    return ds


def _load_hub(cfg: DatasetConfig):
    from datasets import load_dataset

    try:
        ds = load_dataset(cfg.path, cfg.config, split=cfg.split or "train")
    except (FileNotFoundError, ConnectionError, ValueError) as e:
        raise FileNotFoundError(f"{cfg.source}: could not load hub dataset {cfg.path!r} "
                                f"(config {cfg.config!r}, split {cfg.split!r}): {e}") from None
    return _no_decode(ds, cfg)


# ------------------------------------------------------------------------- sharding, batching
def parse_shard(spec: str) -> tuple[int, int]:
    """``"i/n"`` → ``(i, n)`` with 0 ≤ i < n."""
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise ValueError(f"--shard {spec!r}: expected i/n, e.g. 0/4") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard {spec!r}: need 0 <= i < n")
    return i, n


def shard_range(total: int, shard: tuple[int, int] | None = None, start: int = 0,
                count: int | None = None) -> range:
    """Rows of one shard as a contiguous range, so that concatenating the shards' outputs in shard
    order gives the dataset order (like fairseq's ``get_shard_range``). Either ``shard=(i, n)`` or
    ``start``/``count``."""
    if shard is not None:
        i, n = shard
        return range(total * i // n, total * (i + 1) // n)
    if start < 0 or (count is not None and count < 0):
        raise ValueError("--start and --count must be non-negative")
    end = total if count is None else min(total, start + count)
    return range(min(start, total), end)


def batches_by_seconds(durations: Sequence[float], max_seconds: float,
                       max_items: int | None = None) -> list[list[int]]:
    """Group item indices into batches of at most ``max_seconds`` of *padded* audio
    (longest × count) after sorting by length, so little compute goes into padding. Callers put
    results back in dataset order by index. An item longer than the budget gets a batch alone."""
    order = sorted(range(len(durations)), key=lambda i: (durations[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = max(durations[i], durations[cur[-1]] if cur else 0.0)
        if cur and (longest * (len(cur) + 1) > max_seconds or (max_items and len(cur) >= max_items)):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def text_records(ds: AudioDataset, start: int = 0, end: int | None = None) -> list[Record]:
    """Rows ``start..end`` with id, text and duration but no audio (``audio=None``).

    For a Hugging Face dataset only those columns are read (``select_columns``), never the audio
    bytes: transcripts of a 10,000-hour corpus cost seconds, not a pass over the audio.
    """
    end = len(ds) if end is None else min(end, len(ds))
    c = ds.cfg
    if ds._hf is None:
        return [Record(index=r.index, id=r.id, audio=None, text=r.text, duration=r.duration)
                for r in ds.records(start, end)]
    keep = [k for k in dict.fromkeys((c.text_column, c.id_column, "duration"))
            if k and k in ds._hf.column_names]
    cols = ds._hf.select_columns(keep)[start:end] if keep else {}
    out = []
    for j, i in enumerate(range(start, end)):
        dur = cols["duration"][j] if "duration" in cols else None
        out.append(Record(index=i, id=str(cols[c.id_column][j]) if c.id_column else str(i), audio=None,
                          text=cols[c.text_column][j] if c.text_column else None,
                          duration=float(dur) if isinstance(dur, (int, float)) else None))
    return out
