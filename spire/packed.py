"""Packed training data on disk: tokenised and packed once (``tasks/pack_corpus.py``), then
memory-mapped by the trainer (``tasks/train_lm.py --train-data DIR``).

The rows are exactly those of :mod:`spire.packing` (CPT: the documents concatenated and cut into
``seq_len`` chunks; IT: whole examples placed first-fit decreasing; positions restart at every
document and at every row; a document's first token carries no label; IT labels only on the
assistant turns), but nothing is ever held as Python lists: workers tokenise chunks of lines, the
main process appends their tokens to flat files, and a row is an index over those files.

Layout of a packed directory (``meta.json`` is written last, so a directory with it is complete):
  ``tokens.bin``  int32, every example's tokens back to back, in input order
  ``flags.bin``   uint8 per token: bit 0 the token carries a label, bit 1 an example starts here
  ``spans.npy``   int64 (n_spans, 2): (offset in tokens.bin, length)
  ``rows.npy``    int64 (n_rows + 1,): row r is ``spans[rows[r]:rows[r+1]]``
  ``meta.json``   kind, seq_len, packing, tokenizer, vocabulary size, inputs, statistics

Why flat arrays with an index rather than Arrow: an IT row is several non-contiguous examples
chosen after all lengths are known, so a row-major table would need a second full copy of the
tokens; here each token is written once, in a streaming pass, and the first-fit step only touches
the lengths (4 bytes per example). A rank maps the files and reads the pages of the rows its
sampler gives it, nothing else; a resume opens the same files and reads nothing again
(accelerate skips the consumed batches in the sampler, without fetching them).
"""
from __future__ import annotations

import collections
import itertools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spire.io import write_json
from spire.log import get_logger
from spire.packing import IGNORE, check_conversation, first_fit_bins

log = get_logger(__name__)
LABEL, START = 1, 2  # bits of flags.bin
FORMAT = "spire-packed-1"
META = "meta.json"


# --- packing: workers tokenise chunks of lines, the main process streams them to disk ----------

@dataclass
class TextTokenizer:
    """What CPT packing needs: the Rust tokenizer of ``tokenizer.json`` and the ids of ``<s>`` and
    ``</s>``. Loaded without transformers, whose import costs seconds and pulls in torch in every
    packing process; IT packing (the chat template and its assistant mask) loads the full HF
    tokenizer. tests/spire/test_packed.py checks both give the rows of spire.packing."""
    backend: object
    bos_token_id: int | None
    eos_token_id: int
    size: int  # = len(AutoTokenizer...): the vocabulary with added tokens


def text_tokenizer(directory: str) -> TextTokenizer | None:
    """The light tokenizer of a saved HF tokenizer directory, or None (a hub id, no tokenizer.json)."""
    d = Path(directory)
    if not ((d / "tokenizer.json").is_file() and (d / "tokenizer_config.json").is_file()):
        return None
    from tokenizers import Tokenizer
    conf = json.loads((d / "tokenizer_config.json").read_text(encoding="utf-8"))
    smap = d / "special_tokens_map.json"
    if smap.is_file():
        conf.update(json.loads(smap.read_text(encoding="utf-8")))
    backend = Tokenizer.from_file(str(d / "tokenizer.json"))

    def token_id(key):
        tok = conf.get(key)
        tok = tok.get("content") if isinstance(tok, dict) else tok
        return None if tok is None else backend.token_to_id(tok)

    eos = token_id("eos_token")
    if eos is None:
        return None
    return TextTokenizer(backend, token_id("bos_token"), eos, backend.get_vocab_size(with_added_tokens=True))


_TOKENIZER_DIR = None
_TEXT_TOK = None
_HF_TOK = None


def _init_worker(tokenizer: str) -> None:
    global _TOKENIZER_DIR, _TEXT_TOK, _HF_TOK
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core already
    _TOKENIZER_DIR, _TEXT_TOK, _HF_TOK = tokenizer, text_tokenizer(tokenizer), None


def _hf_tokenizer():
    global _HF_TOK
    if _HF_TOK is None:
        from transformers import AutoTokenizer
        _HF_TOK = AutoTokenizer.from_pretrained(_TOKENIZER_DIR)
    return _HF_TOK


@dataclass
class Chunk:
    """What a worker returns for one chunk of input lines."""
    kind: str | None          # "text" or "messages" (None for a chunk of blank lines)
    tokens: np.ndarray        # int32, the chunk's examples back to back
    flags: np.ndarray         # uint8, LABEL/START bits per token
    lengths: np.ndarray       # int32, tokens per example
    labels_in_row: np.ndarray  # int32, labelled tokens within the first seq_len of each example
    lines: int = 0            # input lines read (for the progress bar)
    label_total: int = 0      # labelled tokens of the whole examples (CPT rows keep everything)


def parse_lines(path: str, first_line: int, lines: list[str]) -> tuple[str | None, list]:
    """(kind, items) of JSONL lines numbered from ``first_line``; a bad line is an error naming
    ``path:line`` and what is expected."""
    kind, items = None, []
    for n, line in enumerate(lines, first_line):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: invalid JSON: {e.msg}") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object with 'text' (CPT) or 'messages' (IT)")
        k = "text" if "text" in row else "messages" if "messages" in row else None
        if k is None:
            raise ValueError(f"{where}: expected a 'text' (CPT) or 'messages' (IT) field, got {sorted(row)}")
        if kind is None:
            kind = k
        elif k != kind:
            raise ValueError(f"{where}: a {k!r} row in a {kind!r} corpus; do not mix CPT and IT")
        if k == "text" and not isinstance(row[k], str):
            raise ValueError(f"{where}: 'text' must be a string, got {type(row[k]).__name__}")
        if k == "messages":
            check_conversation(row[k], where)
        items.append(row[k])
    return kind, items


def _tokenize_chunk(path: str, first_line: int, lines: list[str], seq_len: int) -> Chunk:
    kind, items = parse_lines(path, first_line, lines)
    if not items:
        return Chunk(kind, *(np.zeros(0, dt) for dt in (np.int32, np.uint8, np.int32, np.int32)),
                     lines=len(lines))
    if kind == "text":
        # <s> text </s>; every token but the first carries a label (no prediction across documents)
        # the Rust tokenizer directly, without offsets (``encode_batch_fast``, tokenizers >= 0.21):
        # the same ids as ``tok(items)``, 1.5x faster, and the bulk of the packing time
        tok = _TEXT_TOK or _hf_tokenizer()
        backend = tok.backend if _TEXT_TOK else tok.backend_tokenizer
        encode = getattr(backend, "encode_batch_fast", backend.encode_batch)
        ids = [e.ids for e in encode(items, add_special_tokens=False)]
        bos = [] if tok.bos_token_id is None else [tok.bos_token_id]
        lengths = np.fromiter((len(x) for x in ids), np.int32, len(ids)) + len(bos) + 1
        tokens = np.empty(int(lengths.sum()), np.int32)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        flat = np.fromiter(itertools.chain.from_iterable(ids), np.int32,
                           int(lengths.sum()) - len(ids) * (len(bos) + 1))
        body = np.ones(len(tokens), bool)
        body[ends - 1] = False
        if bos:
            body[starts] = False
            tokens[starts] = bos[0]
        tokens[ends - 1] = tok.eos_token_id
        tokens[body] = flat
        flags = np.full(len(tokens), LABEL, np.uint8)
    else:
        tok = _hf_tokenizer()
        if not getattr(tok, "chat_template", None):
            raise ValueError("the tokenizer has no chat template: use the instruct tokenizer "
                             "(tasks/extend_tokenizer.py --instruct)")
        enc = tok.apply_chat_template(items, tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True)
        lengths = np.fromiter((len(x) for x in enc["input_ids"]), np.int32, len(items))
        tokens = np.fromiter((t for x in enc["input_ids"] for t in x), np.int32, int(lengths.sum()))
        flags = np.fromiter((m for x in enc["assistant_masks"] for m in x), np.uint8, len(tokens))
        starts = np.cumsum(lengths) - lengths
    flags[starts] = START  # an example's first token starts its positions and has no label
    # labelled tokens within the part of each example that a row keeps (IT truncates at seq_len)
    keep = np.minimum(lengths, seq_len)
    pos = np.arange(len(tokens)) - np.repeat(starts, lengths)
    kept = pos < np.repeat(keep, lengths)
    labels_in_row = np.bincount(np.repeat(np.arange(len(lengths)), lengths),
                                weights=(flags & LABEL).astype(bool) & kept,
                                minlength=len(lengths)).astype(np.int32)
    return Chunk(kind, tokens, flags, lengths, labels_in_row, len(lines),
                 int(np.count_nonzero(flags & LABEL)))


def _chunks(inputs: list[str], lines_per_chunk: int, max_examples: int | None):
    """(path, first line number, lines) in input order, streamed: no file is read whole."""
    taken = 0
    for path in inputs:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file (an --input of pack_corpus)")
        with open(path, encoding="utf-8") as f:
            buf, first = [], 1
            for n, line in enumerate(f, 1):
                if max_examples is not None and line.strip():
                    if taken >= max_examples:
                        break
                    taken += 1
                buf.append(line)
                if len(buf) >= lines_per_chunk:
                    yield path, first, buf
                    buf, first = [], n + 1
            if buf:
                yield path, first, buf


def _results(tokenizer: str, inputs: list[str], seq_len: int, num_proc: int,
             lines_per_chunk: int, max_examples: int | None):
    """Chunks tokenised by ``num_proc`` processes, in input order, with at most 2 per process in
    flight (``Pool.imap`` would read the whole input ahead into its queue)."""
    source = _chunks(inputs, lines_per_chunk, max_examples)
    if num_proc <= 1:
        _init_worker(tokenizer)
        for path, first, lines in source:
            yield path, first, _tokenize_chunk(path, first, lines, seq_len)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    # fork: workers start in milliseconds (spawn re-imports transformers in each, seconds); safe
    # because this process has not used the tokenizer's thread pool (TOKENIZERS_PARALLELISM is
    # off). An executor, not mp.Pool: a worker that dies fails the run instead of being respawned.
    with ProcessPoolExecutor(num_proc, mp_context=mp.get_context("fork"), initializer=_init_worker,
                             initargs=(tokenizer,)) as pool:
        pending = collections.deque()
        for path, first, lines in source:
            pending.append((path, first, pool.submit(_tokenize_chunk, path, first, lines, seq_len)))
            if len(pending) >= 2 * num_proc:
                p, f, r = pending.popleft()
                yield p, f, r.result()
        while pending:
            p, f, r = pending.popleft()
            yield p, f, r.result()


def pack_corpus(tokenizer: str, inputs: list[str], seq_len: int, out_dir: str, num_proc: int = 1,
                packing: bool = True, max_examples: int | None = None,
                lines_per_chunk: int = 1000, progress: bool = True) -> dict:
    """Tokenise and pack ``inputs`` (CPT ``{"text"}`` or IT ``{"messages"}`` JSONL) into
    ``out_dir``; returns its meta. Written beside ``out_dir`` and renamed at the end."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # before any tokenizer use: workers fork
    from tqdm import tqdm

    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"{out}: already exists; remove it to pack again")
    if seq_len < 2:
        raise ValueError(f"--seq-len {seq_len}: must be at least 2")
    light = text_tokenizer(tokenizer)
    if light is None:
        from transformers import AutoTokenizer
        vocab_size = len(AutoTokenizer.from_pretrained(tokenizer))
    else:
        vocab_size = light.size
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    t0 = time.time()
    kind, lengths, labelled, n_tok, label_total = None, [], [], 0, 0
    bar = tqdm(unit=" lines", unit_scale=True, desc="pack", disable=not progress)
    try:
        with open(tmp / "tokens.bin", "wb") as ft, open(tmp / "flags.bin", "wb") as ff:
            for path, first, c in _results(tokenizer, inputs, seq_len, num_proc, lines_per_chunk,
                                           max_examples):
                if c.kind is not None:
                    if kind is None:
                        kind = c.kind
                    elif c.kind != kind:
                        raise ValueError(f"{path}:{first}: {c.kind!r} rows after a {kind!r} corpus; "
                                         "do not mix CPT and IT")
                c.tokens.tofile(ft)
                c.flags.tofile(ff)
                lengths.append(c.lengths)
                labelled.append(c.labels_in_row)
                n_tok += len(c.tokens)
                label_total += c.label_total
                bar.update(c.lines)
                bar.set_postfix(tokens=n_tok, refresh=False)
        bar.close()
        if kind is None:
            raise ValueError(f"{', '.join(inputs)}: empty corpus (no non-blank line)")
        lengths = np.concatenate(lengths).astype(np.int64)
        labelled = np.concatenate(labelled).astype(np.int64)
        offsets = np.cumsum(lengths) - lengths
        keep = np.minimum(lengths, seq_len)
        truncated = int((lengths > seq_len).sum()) if (kind == "messages" or not packing) else 0
        if packing and kind == "text":
            # one span per row: fixed-length cuts of the whole stream (the last row may be short)
            starts = np.arange(0, n_tok, seq_len, dtype=np.int64)
            spans = np.stack([starts, np.minimum(seq_len, n_tok - starts)], axis=1)
            rows = np.arange(len(spans) + 1, dtype=np.int64)
            label_tokens = label_total
        elif packing:
            bins = first_fit_bins(keep.tolist(), seq_len)
            order = np.fromiter((i for b in bins for i in b), np.int64, len(lengths))
            spans = np.stack([offsets[order], keep[order]], axis=1)
            rows = np.concatenate([[0], np.cumsum([len(b) for b in bins])]).astype(np.int64)
            label_tokens = int(labelled.sum())
        else:  # one (truncated) example per row: the padding baseline
            spans = np.stack([offsets, keep], axis=1)
            rows = np.arange(len(spans) + 1, dtype=np.int64)
            label_tokens = int(labelled.sum())
        np.save(tmp / "spans.npy", spans)
        np.save(tmp / "rows.npy", rows)
        n_rows = len(rows) - 1
        row_tokens = int(spans[:, 1].sum())
        stats = {"kind": "cpt" if kind == "text" else "it", "examples": len(lengths), "rows": n_rows,
                 "tokens": row_tokens, "label_tokens": label_tokens,
                 "fill": row_tokens / max(1, n_rows * seq_len), "truncated": truncated,
                 "pack_seconds": round(time.time() - t0, 2)}
        meta = {"format": FORMAT, "kind": kind, "seq_len": seq_len, "packing": packing,
                "tokenizer": str(tokenizer), "vocab_size": vocab_size,
                "inputs": [str(p) for p in inputs], "max_examples": max_examples,
                "stream_tokens": n_tok, "stats": stats}
        write_json(tmp / META, meta)
        os.replace(tmp, out)
    except BaseException:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if truncated:
        log.warning("%s: %d examples longer than --seq-len %d were truncated", out, truncated, seq_len)
    return meta


# --- reading: a map-style dataset over the memory-mapped files ---------------------------------

def read_meta(directory: str | os.PathLike) -> dict:
    path = Path(directory) / META
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: not a packed corpus (no {META}); "
                                "make one with tasks/pack_corpus.py")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}; pack it again")
    return meta


class PackedRows:
    """Rows of a packed directory as ``{"input_ids", "labels"[, "position_ids"]}`` numpy arrays.

    The token files are mapped on first access in each process (so a dataset object is cheap to
    pickle and to hand to DataLoader workers) and only the pages of the rows asked for are read.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.meta = read_meta(directory)
        self.packed = bool(self.meta["packing"])
        self.rows = np.load(self.directory / "rows.npy", mmap_mode="r")
        self.spans = np.load(self.directory / "spans.npy", mmap_mode="r")
        self._tokens = self._flags = None

    def __len__(self) -> int:
        return len(self.rows) - 1

    def _maps(self):
        if self._tokens is None:
            n = self.meta["stream_tokens"]
            self._tokens = np.memmap(self.directory / "tokens.bin", np.int32, "r", shape=(n,))
            self._flags = np.memmap(self.directory / "flags.bin", np.uint8, "r", shape=(n,))
        return self._tokens, self._flags

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(i)
        tokens, flags = self._maps()
        spans = self.spans[self.rows[i]:self.rows[i + 1]]
        ids = np.concatenate([tokens[o:o + n] for o, n in spans]).astype(np.int64)
        fl = np.concatenate([flags[o:o + n] for o, n in spans])
        labels = np.where(fl & LABEL, ids, IGNORE)
        row = {"input_ids": ids, "labels": labels}
        if self.packed:
            # positions restart at every example and at every span start (a CPT document cut by
            # the row boundary restarts at 0, as in spire.packing.pack_chunks)
            start = (fl & START).astype(bool)
            start[np.cumsum([0, *spans[:-1, 1]])] = True
            idx = np.arange(len(ids))
            row["position_ids"] = idx - np.maximum.accumulate(np.where(start, idx, 0))
        return row

    def __getstate__(self):
        return {**self.__dict__, "_tokens": None, "_flags": None}
