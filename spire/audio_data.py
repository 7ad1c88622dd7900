"""Dataset sources (audio corpora and text sets), sharding and batching by seconds.

The one loader of the project: every dataset is described by a small YAML file (docs/design.md,
"dataset config") and opened here, so the mirror, the hub fallback and the errors are the same
for every stage::

    path: openslr/librispeech_asr   # hub id | save_to_disk dir | .jsonl/.tsv/.parquet file | audio folder
    config: clean                   # hub config (none: the mirror calls it `default`)
    split: test                     # hub split / DatasetDict key (default: train)
    audio_column: audio             # default: audio; null for a text-only set (FLORES+, TowerBlocks)
    text_column: text               # optional
    id_column: id                   # optional (default: row index / file stem)

Further loader keys: ``trust_remote_code``, ``data_dir``, ``revision`` (passed to
``datasets.load_dataset``), ``max_rows`` / ``max_hours`` with ``duration_column`` and
``cap_seed`` (the subset the paper used, see :func:`cap_rows`), ``text_replace`` (a mapping
applied to every transcript, e.g. GigaSpeech's ``<COMMA>: ","``) and ``text_drop`` (tags deleted,
e.g. ``<SIL>``). Metadata keys (``name``, ``task``, ``scoring`` ...: :data:`METADATA_KEYS`) are
accepted and kept in ``DatasetConfig.meta``; any other key is an error naming the file.

A hub id is read from the mirror (``spire.mirror``, ``$SPIRE_MIRROR``) when it holds the split,
else from the hub. A path that looks local (a file suffix, ``./``, ``/``, two slashes) is never
sent to the hub. A relative ``path`` is resolved against the YAML file's directory when it exists
there. Manifest rows give the audio as a file path, relative to the manifest's directory unless
absolute. Rows are always returned in dataset order; audio is *not* decoded here
(``spire.audio.load_audio`` does that, turning bad audio into an empty line).
"""
from __future__ import annotations

import csv
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from spire import mirror
from spire.log import get_logger

log = get_logger(__name__)
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus")
LOCAL_SUFFIXES = (".jsonl", ".json", ".tsv", ".csv", ".parquet", ".txt", ".arrow") + AUDIO_EXTENSIONS
LOADER_KEYS = ("path", "config", "split", "audio_column", "text_column", "id_column",
               "trust_remote_code", "data_dir", "revision", "max_rows", "max_hours",
               "duration_column", "cap_seed", "text_replace", "text_drop")
# contract (docs/design.md): keys for other tools that the loader accepts and ignores
METADATA_KEYS = ("name", "task", "scoring", "target_column", "source_column", "src_lang", "tgt_lang",
                 "tgt_langs", "references", "notes", "approx_gb", "manual")


@dataclass
class DatasetConfig:
    path: str
    config: str | None = None
    split: str | None = None
    audio_column: str | None = "audio"
    text_column: str | None = None
    id_column: str | None = None
    trust_remote_code: bool = False
    data_dir: str | None = None
    revision: str | None = None
    max_rows: int | None = None
    max_hours: float | None = None
    duration_column: str | None = None
    cap_seed: int = 0
    text_replace: dict[str, str] = field(default_factory=dict)
    text_drop: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict, compare=False)      # metadata keys, unread here
    source: str = field(default="<inline>", compare=False)  # where the config came from, for errors

    @property
    def caps(self) -> dict:
        return {"max_rows": self.max_rows, "max_hours": self.max_hours, "cap_seed": self.cap_seed}

    def clean_text(self, text: str | None) -> str | None:
        """The transcript after the config's clean-up (tags replaced or dropped, spaces squeezed)."""
        if text is None or not (self.text_replace or self.text_drop):
            return text
        for tag, repl in self.text_replace.items():
            text = text.replace(f" {tag}", repl).replace(tag, repl)
        for tag in self.text_drop:
            text = text.replace(tag, " ")
        return re.sub(r"\s+", " ", text).strip()


@dataclass
class Record:
    index: int            # position in the dataset
    id: str
    audio: Any            # a path or an HF audio dict: anything spire.audio.load_audio accepts
    text: str | None = None
    duration: float | None = None


def _read_yaml(path: Path):
    import yaml

    from spire.io import read_text

    try:
        return yaml.safe_load(read_text(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ValueError(f"{where}: not valid YAML ({problem}); fix the line (a value with ': ' "
                         "or '#' needs quotes)") from None


def parse_dataset_config(data: dict, source: str = "<inline>", base_dir: Path | None = None,
                         require_path: bool = True) -> DatasetConfig:
    """A :class:`DatasetConfig` from a mapping; errors name ``source``."""
    if not isinstance(data, dict):
        raise ValueError(f"dataset config {source}: expected a mapping with keys {list(LOADER_KEYS)}")
    unknown = set(data) - set(LOADER_KEYS) - set(METADATA_KEYS)
    if unknown:
        raise ValueError(f"dataset config {source}: unknown key(s) {sorted(unknown)}; loader keys: "
                         f"{list(LOADER_KEYS)}; metadata keys: {list(METADATA_KEYS)}")
    if require_path and not data.get("path"):
        raise ValueError(f"dataset config {source}: 'path' is required (a hub id or a local file)")
    kw: dict[str, Any] = {"meta": {k: data[k] for k in METADATA_KEYS if k in data}, "source": source}
    for key in ("path", "config", "split", "audio_column", "text_column", "id_column", "data_dir",
                "revision", "duration_column"):
        if key in data:
            kw[key] = None if data[key] is None else str(data[key])
    typed = {"trust_remote_code": bool, "max_rows": int, "max_hours": float, "cap_seed": int}
    for key, cast in typed.items():
        if data.get(key) is not None:
            try:
                kw[key] = cast(data[key])
            except (TypeError, ValueError):
                raise ValueError(f"dataset config {source}: {key} must be a {cast.__name__}, "
                                 f"got {data[key]!r}") from None
    if data.get("text_replace") is not None:
        if not isinstance(data["text_replace"], dict):
            raise ValueError(f"dataset config {source}: text_replace must map a tag to its replacement")
        kw["text_replace"] = {str(k): "" if v is None else str(v) for k, v in data["text_replace"].items()}
    if data.get("text_drop") is not None:
        if not isinstance(data["text_drop"], list):
            raise ValueError(f"dataset config {source}: text_drop must be a list of tags")
        kw["text_drop"] = [str(t) for t in data["text_drop"]]
    kw["path"] = kw.get("path") or ""  # a template (require_path=False) may leave it to its tape
    cfg = DatasetConfig(**kw)
    if cfg.path and base_dir is not None and not Path(cfg.path).is_absolute() and (base_dir / cfg.path).exists():
        cfg.path = str(base_dir / cfg.path)
    if cfg.max_hours is not None and cfg.max_hours <= 0 or cfg.max_rows is not None and cfg.max_rows <= 0:
        raise ValueError(f"dataset config {source}: max_rows / max_hours must be positive")
    return cfg


def load_dataset_config(path: str | os.PathLike, require_path: bool = True) -> DatasetConfig:
    """Read a dataset YAML; unknown keys, bad YAML and a missing ``path`` are errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset config {path}: no such file")
    data = _read_yaml(path)
    return parse_dataset_config({} if data is None else data, str(path), path.parent, require_path)


def looks_local(path: str) -> bool:
    """True for what can only be a local path (never sent to the hub): ``./x``, ``/x``, ``a/b/c``,
    ``x.jsonl``. Hub ids are ``name`` or ``owner/name``."""
    return (path.startswith((".", "/", "~")) or path.count("/") > 1 or "\\" in path
            or path.lower().endswith(LOCAL_SUFFIXES))


class AudioDataset:
    """Rows of a dataset in order: ``len(ds)``, ``ds.records(start, end)``, ``ds.rows()``."""

    def __init__(self, cfg: DatasetConfig, hf=None, origin: str | None = None):
        """Open ``cfg``; or, with ``hf``, wrap a ``datasets.Dataset`` already loaded for it (the
        fetch task), with the same column checks and caps."""
        self.cfg = cfg
        self._rows: list[dict] | None = None
        self._hf = hf
        self._dur_view = None  # the duration columns of _hf (AudioDataset.duration)
        self.origin = origin or cfg.path  # where the rows came from (a file, the mirror, the hub)
        p = Path(cfg.path).expanduser()
        if hf is not None:
            pass
        elif p.is_file() and p.suffix in (".jsonl", ".json"):
            from spire.io import read_jsonl

            self._rows, self._root = read_jsonl(p), p.parent
        elif p.is_file() and p.suffix == ".tsv":
            self._rows, self._root = _read_tsv(p), p.parent
        elif p.is_file() and p.suffix == ".parquet":
            import datasets

            self._hf = datasets.Dataset.from_parquet(str(p))
        elif mirror.is_saved_split(p):
            self._hf = mirror.load_split(p, cfg.split)
        elif p.is_dir():
            self._rows, self._root = _audio_folder(p), p
            self.cfg.audio_column = "audio"
            self.cfg.id_column = self.cfg.id_column or "id"
        elif p.exists():
            raise ValueError(f"{cfg.source}: path {p} is neither a .jsonl/.tsv/.parquet file nor a directory")
        elif looks_local(cfg.path):
            raise FileNotFoundError(f"{cfg.source}: dataset path {cfg.path} does not exist (a local path, "
                                    "so not looked up on the hub); fix `path`, relative to the YAML's "
                                    "directory or absolute")
        else:
            self._hf, self.origin = _load_hub_or_mirror(cfg)
        if self._hf is not None:
            self._hf = _no_decode(self._hf, cfg)
        self._check_columns()
        self._apply_caps()

    @property
    def columns(self) -> list[str]:
        if self._hf is not None:
            return list(self._hf.column_names)
        return sorted({k for r in self._rows[:1000] for k in r}) if self._rows else []

    def _check_columns(self) -> None:
        cols = self.columns
        for opt in ("audio_column", "text_column", "id_column", "duration_column"):
            name = getattr(self.cfg, opt)
            if name is not None and len(self) and name not in cols:
                raise ValueError(f"{self.cfg.source}: {opt} {name!r} is not a column of {self.cfg.path} "
                                 f"(read from {self.origin}); columns are {cols}: set {opt} to one of "
                                 "them in that file")

    def _apply_caps(self) -> None:
        c = self.cfg
        if c.max_rows is None and c.max_hours is None:
            return
        if self._hf is not None and _fetch_info(self.origin).get("caps") == c.caps:
            return  # the mirror holds exactly this subset already (tasks/fetch_dataset.py)
        duration = self.duration
        col = c.duration_column
        if c.max_hours is not None and col is not None:
            # one column read at once (a row read would fetch its audio bytes too)
            seconds = self._hf[col] if self._hf is not None else [r.get(col) for r in self._rows]
            duration = lambda i: float(seconds[i] or 0.0)  # noqa: E731
        keep = cap_rows(len(self), duration, c.max_rows, c.max_hours, c.cap_seed)
        if keep is None:
            return
        log.info("%s: keeping %d of %d rows (caps %s)", c.source, len(keep), len(self), c.caps)
        if self._hf is not None:
            self._hf = self._hf.select(keep)
            self._dur_view = None
        else:
            self._rows = [self._rows[i] for i in keep]

    def duration(self, i: int) -> float:
        """Seconds of row ``i``: the duration column, else the audio file's header."""
        c = self.cfg
        if self._hf is not None:
            if self._dur_view is None:  # the columns a duration needs, not the rest
                cols = [x for x in (c.duration_column, "duration", c.audio_column) if x in self._hf.column_names]
                self._dur_view = self._hf.select_columns(list(dict.fromkeys(cols)))
            row = self._dur_view[i]
        else:
            row = self._rows[i]
        col = c.duration_column or ("duration" if "duration" in row else None)
        if col is not None and isinstance(row.get(col), (int, float)):
            return float(row[col])
        return audio_seconds(self._resolve_audio(row.get(c.audio_column)) if c.audio_column else None)

    def require_rows(self) -> "AudioDataset":
        """This dataset, or a ``ValueError`` naming its config and file when it has no rows (an
        empty manifest labels to an empty corpus and scores nothing: never what was meant)."""
        if len(self):
            return self
        p = Path(self.cfg.path).expanduser()
        if self._hf is None and p.is_dir():
            what = f"the folder {p} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})"
        elif self._hf is None:
            what = f"{p} is an empty manifest (no rows: 0 lines, or only blank lines)"
        else:
            what = f"{self.cfg.path} (split {self.cfg.split or 'train'}, read from {self.origin}) has no rows"
        raise ValueError(f"{self.cfg.source}: {what}; fill it, or point `path` at the right data")

    def _resolve_audio(self, audio):
        if self._hf is None and isinstance(audio, str) and not os.path.isabs(audio):
            return str(self._root / audio)
        return audio

    @property
    def hf(self):
        """The underlying ``datasets.Dataset`` (None for manifests and folders)."""
        return self._hf

    def __len__(self) -> int:
        return len(self._hf) if self._hf is not None else len(self._rows)

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[dict]:
        """The raw rows (every column), in order, one at a time."""
        end = len(self) if end is None else min(end, len(self))
        if self._hf is not None:
            for lo in range(start, end, 1000):
                hi = min(end, lo + 1000)
                cols = self._hf[lo:hi]
                yield from ({k: cols[k][i] for k in cols} for i in range(hi - lo))
        else:
            yield from self._rows[start:end]

    def records(self, start: int = 0, end: int | None = None) -> list[Record]:
        c = self.cfg
        out = []
        for i, row in enumerate(self.rows(start, end), start):
            audio = self._resolve_audio(row[c.audio_column]) if c.audio_column else None
            dur = row.get(c.duration_column or "duration")
            out.append(Record(index=i, id=str(row[c.id_column]) if c.id_column else str(i), audio=audio,
                              text=c.clean_text(row[c.text_column]) if c.text_column else None,
                              duration=float(dur) if isinstance(dur, (int, float)) else None))
        return out


def open_audio_dataset(config: str | os.PathLike | DatasetConfig) -> AudioDataset:
    cfg = config if isinstance(config, DatasetConfig) else load_dataset_config(config)
    return AudioDataset(cfg)


open_dataset = open_audio_dataset  # text-only sets (FLORES+, TowerBlocks) open the same way


def cap_rows(n: int, duration, max_rows: int | None, max_hours: float | None,
             seed: int = 0) -> list[int] | None:
    """Rows of a seeded random subset of at most ``max_rows`` rows and ``max_hours`` hours, in
    dataset order (None: no cap needed). Rows are taken in a shuffled order and a row that would
    go over the hours is skipped, not a stop, so the subset of a subset is itself (fetching a capped
    split into the mirror and capping it again when loading changes nothing)."""
    if max_rows is None and max_hours is None:
        return None
    if max_hours is None and n <= max_rows:
        return None
    order = list(range(n))
    random.Random(seed).shuffle(order)
    budget = None if max_hours is None else max_hours * 3600.0
    keep, total = [], 0.0
    for i in _progress(order, "capping rows" if budget is not None else None):
        if max_rows is not None and len(keep) >= max_rows:
            break
        if budget is not None:
            d = duration(i)
            if total + d > budget:
                continue
            total += d
        keep.append(i)
    return sorted(keep) if len(keep) < n else None


def audio_seconds(audio) -> float:
    """Duration from the audio header (no decoding, spire.audio); 0 for unreadable audio."""
    from spire.audio import audio_duration

    return (audio_duration(audio) or 0.0) if audio is not None else 0.0


def _progress(it, desc):
    if desc is None:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, mininterval=10)


def _fetch_info(origin) -> dict:
    try:
        return json.loads((Path(origin) / mirror.FETCH_INFO).read_text())
    except (OSError, ValueError, TypeError):
        return {}


def _read_tsv(path: Path) -> list[dict]:
    """A TSV manifest with a header row, or fairseq's format (root dir line, then path<TAB>frames)."""
    from spire.io import read_text

    lines = read_text(path).splitlines()
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
    from spire.io import read_text

    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    rows = []
    for p in files:
        txt = p.with_suffix(".txt")
        rows.append({"id": str(p.relative_to(root).with_suffix("")), "audio": str(p),
                     "text": read_text(txt).strip() if txt.is_file() else None})
    return rows


def _no_decode(ds, cfg: DatasetConfig):
    """Keep audio undecoded ({path, bytes}) so spire.audio decodes it and bad files become empty lines."""
    from datasets import Audio

    if cfg.audio_column and cfg.audio_column in ds.column_names and \
            isinstance(ds.features.get(cfg.audio_column), Audio):
        ds = ds.cast_column(cfg.audio_column, Audio(decode=False))
    return ds


def hub_kwargs(cfg: DatasetConfig) -> dict:
    """The ``datasets.load_dataset`` arguments of a config (the fetch task uses the same)."""
    kw: dict[str, Any] = {"split": cfg.split or "train"}
    if cfg.trust_remote_code:
        kw["trust_remote_code"] = True
    for key in ("data_dir", "revision"):
        if getattr(cfg, key):
            kw[key] = getattr(cfg, key)
    return kw


def _load_hub_or_mirror(cfg: DatasetConfig):
    split = cfg.split or "train"
    found = mirror.find_dataset(cfg.path, cfg.config, split)
    if found is not None:
        log.info("%s: reading %s from the mirror, %s", cfg.source, cfg.path, found)
        return mirror.load_split(found, split), str(found)
    expected = (f"{mirror.dataset_dir(cfg.path, cfg.config, split)}"
                if mirror.mirror_root() is not None else None)
    offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes")
                  for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    fill = ("fill the mirror with `ducttape paper.tape -p data` on a machine with network access "
            "(or tasks/fetch_dataset.py --config THIS_FILE)")
    if offline:
        where = f"the mirror has no {expected}" if expected else f"no mirror is set ({mirror.ENV})"
        raise FileNotFoundError(f"{cfg.source}: {cfg.path!r} (config {cfg.config!r}, split {split!r}): "
                                f"{where} and the hub is off (HF_HUB_OFFLINE); {fill}")
    if expected:
        log.warning("%s: the mirror has no %s; trying the hub", cfg.source, expected)
    return load_hub(cfg, fill_hint=fill, expected=expected), f"the hub ({cfg.path})"


def load_hub(cfg: DatasetConfig, fill_hint: str = "", expected: str | None = None,
             cache_dir: str | None = None):
    """``datasets.load_dataset`` for a config, with errors that name the config and what to do."""
    import datasets

    kw = hub_kwargs(cfg)
    if cache_dir:
        kw["cache_dir"] = cache_dir
    try:
        return datasets.load_dataset(cfg.path, cfg.config, **kw)
    except Exception as e:  # noqa: BLE001 - every hub failure becomes one message naming the file
        text = f"{type(e).__name__}: {e}"
        page = f"https://huggingface.co/datasets/{cfg.path}"
        if "gated" in text.lower() or type(e).__name__ in ("GatedRepoError",):
            why = (f"{cfg.path!r} is a gated dataset: accept its conditions on {page} with your account, "
                   "then `huggingface-cli login` (or export HF_TOKEN) on the machine that fetches it")
        elif "trust_remote_code" in text:
            why = (f"{cfg.path!r} runs a loading script: add `trust_remote_code: true` to the config "
                   "(after reading the script on the hub)")
        elif "Manual" in text or "manual" in text or "data_dir" in text:
            why = f"{cfg.path!r} needs files downloaded by hand: set `data_dir` in the config ({page})"
        else:
            why = f"could not load hub dataset {cfg.path!r}"
        where = f" The mirror has no {expected}." if expected else ""
        raise FileNotFoundError(f"{cfg.source}: {why} (config {cfg.config!r}, split {kw['split']!r}).{where} "
                                f"{fill_hint}. Cause: {text[:500]}") from None


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
