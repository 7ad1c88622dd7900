"""Tokenisation and sequence packing for ``tasks/train_lm.py`` (CPT text and IT conversations).

Rows carry ``input_ids``, ``labels`` and ``position_ids``. Position ids restart at 0 at every
document or example boundary. How a batch of packed rows keeps documents apart depends on the
attention implementation (:func:`attention_path`):

- ``sdpa``/``eager`` ("mask"): rows are padded into a (micro-batch, width) batch WITHOUT an
  attention mask; transformers (masking_utils.find_packed_sequence_indices, 4.57 and 5.x) then
  builds a block-diagonal causal 4-D mask from the position ids, per row.
- ``flash_attention_2``/``_3`` ("varlen"): transformers detects packing from position ids only at
  batch size 1 (modeling_flash_attention_utils._is_packed_sequence); at a micro-batch of 8-12 rows
  it runs the plain causal kernel and packed documents attend to each other. So the micro-batch is
  split into its documents and flattened into ONE row by transformers' own
  ``DataCollatorWithFlattening(return_flash_attn_kwargs=True)``, which passes the documents'
  cumulative lengths (``cu_seq_lens_q/k``, ``max_length_q/k``) to the varlen kernel.
- anything else (``flex_attention``, hub kernels, a typo) is refused at start-up.

With the KV cache off (:func:`prepare_for_packing`) packed documents never attend to each other:
tests/spire/test_training.py checks a packed example's logits equal its logits alone (sdpa, eager),
tests/spire/test_packing_attention.py that the flattened batch gives the 4-D-mask path's logits,
loss and gradient (flash_attn itself needs a GPU: the kernel there is an eager stand-in).

CPT packs by concatenating documents and cutting fixed-length chunks (documents may span two
rows); IT packs whole examples into rows (first-fit decreasing), truncating an example only when
it is longer than a row. ``packing=False`` gives one example per row, padded per batch with an
attention mask: the baseline of ``bench/bench_packing.py``.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

IGNORE = -100


def tokenize_documents(tok, texts: list[str], batch: int = 1000) -> list[list[int]]:
    """``<s> text </s>`` for every CPT document (fast tokenizer, batched)."""
    out = []
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    eos = [tok.eos_token_id]
    for i in range(0, len(texts), batch):
        enc = tok(texts[i:i + batch], add_special_tokens=False)["input_ids"]
        out += [bos + ids + eos for ids in enc]
    return out


def check_conversation(conv, where: str) -> None:
    """A ``messages`` value must be a list of ``{"role": str, "content": str}`` with an assistant
    turn; anything else is an error naming ``where`` (file:line), not a crash deep in the template."""
    if not isinstance(conv, list) or not conv:
        raise ValueError(f"{where}: 'messages' must be a non-empty list of "
                         f'{{"role": ..., "content": ...}} objects, got {type(conv).__name__} {str(conv)[:60]!r}')
    for j, m in enumerate(conv):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) \
                or not isinstance(m.get("content"), str):
            raise ValueError(f"{where}: message {j} must be an object with string 'role' and "
                             f"'content', got {str(m)[:60]!r}")
    if not any(m["role"] == "assistant" for m in conv):
        raise ValueError(f"{where}: conversation without an assistant turn")


def tokenize_conversations(tok, conversations: list[list[dict]], source: str = "corpus",
                           batch: int = 256) -> list[tuple[list[int], list[int]]]:
    """(ids, labels) per conversation: the tokenizer's chat template, loss on assistant turns.

    The assistant mask comes from the template's ``{% generation %}`` blocks (transformers'
    ``return_assistant_tokens_mask``): the assistant's content and its ``<|im_end|>`` carry labels,
    everything else is -100.
    """
    if not getattr(tok, "chat_template", None):
        raise ValueError("the tokenizer has no chat template: use the instruct tokenizer "
                         "(tasks/extend_tokenizer.py --instruct)")
    for i, conv in enumerate(conversations, 1):
        check_conversation(conv, f"{source}:{i}")
    out = []
    for i in range(0, len(conversations), batch):
        enc = tok.apply_chat_template(conversations[i:i + batch], tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True)
        for ids, mask in zip(enc["input_ids"], enc["assistant_masks"]):
            out.append((list(ids), [t if m else IGNORE for t, m in zip(ids, mask)]))
    return out


def check_seq_len(seq_len) -> int:
    """``seq_len`` (tokens per row, the trainer's --seq-len, the tconf's it/cpt_seq_len) as a
    positive int; otherwise a ValueError, not rows cut by ``range(0, n, 0)`` or a negative slice
    that silently empties every row."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
        raise ValueError(f"--seq-len {seq_len!r}: must be a whole number of tokens, at least 1 "
                         "(set it_seq_len or cpt_seq_len in your tconf)")
    return int(seq_len)


def pack_chunks(docs: list[list[int]], seq_len: int) -> list[dict]:
    """Concatenate documents and cut rows of ``seq_len`` tokens; positions reset per document.

    The final partial row is kept (it is padded per batch). Built with numpy because this runs over
    the whole corpus before training.
    """
    seq_len = check_seq_len(seq_len)
    if not docs:
        return []
    lens = np.array([len(d) for d in docs])
    ids = np.concatenate([np.asarray(d, dtype=np.int64) for d in docs])
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    pos = np.arange(len(ids)) - np.repeat(starts, lens)
    labels = ids.copy()
    labels[starts] = IGNORE
    rows = []
    for s in range(0, len(ids), seq_len):
        p = pos[s:s + seq_len].copy()
        if p[0] != 0:
            # a document cut by the row boundary restarts at position 0 in its second row, so
            # positions stay below seq_len whatever the document length
            resets = np.flatnonzero(p == 0)
            end = resets[0] if len(resets) else len(p)
            p[:end] = np.arange(end)
        rows.append({"input_ids": ids[s:s + seq_len].tolist(),
                     "labels": labels[s:s + seq_len].tolist(),
                     "position_ids": p.tolist()})
    return rows


def first_fit_bins(lengths, seq_len: int) -> list[list[int]]:
    """Example indices per row: decreasing length, each into the fullest row it still fits
    (best fit, found by bisect). Rows come in the order of their first example, examples in a
    row in input order; one place for the rule, used by :func:`pack_examples` and
    :mod:`spire.packed`. ``lengths`` must already be at most ``seq_len``."""
    seq_len = check_seq_len(seq_len)
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (free space, bin index), sorted
    for i in order:
        n = int(lengths[i])
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            space, b = free.pop(k)
            bins[b].append(i)
            bisect.insort(free, (space - n, b))
        else:
            bins.append([i])
            bisect.insort(free, (seq_len - n, len(bins) - 1))
    return [sorted(b) for b in sorted(bins, key=min)]


def pack_examples(examples: list[tuple[list[int], list[int]]], seq_len: int) -> tuple[list[dict], int]:
    """First-fit-decreasing packing of whole examples into rows of at most ``seq_len`` tokens.

    Returns (rows, number of truncated examples). The order of rows is the order of their first
    example (the trainer shuffles rows anyway, with its own seed).
    """
    seq_len = check_seq_len(seq_len)
    truncated = 0
    items = []
    for ids, labels in examples:
        if len(ids) > seq_len:
            ids, labels = ids[:seq_len], labels[:seq_len]
            truncated += 1
        items.append((ids, labels))
    rows = []
    for b in first_fit_bins([len(ids) for ids, _ in items], seq_len):
        ids, labels, pos = [], [], []
        for i in b:
            ids += items[i][0]
            labels += [IGNORE] + items[i][1][1:]
            pos += range(len(items[i][0]))
        rows.append({"input_ids": ids, "labels": labels, "position_ids": list(pos)})
    return rows, truncated


def unpacked_rows(examples: list[tuple[list[int], list[int]]], seq_len: int) -> list[dict]:
    """One (truncated) example per row: the no-packing baseline."""
    seq_len = check_seq_len(seq_len)
    return [{"input_ids": ids[:seq_len], "labels": labels[:seq_len]} for ids, labels in examples]


def prepare_for_packing(model):
    """Turn off the KV cache for training on packed rows.

    Measured with transformers 4.57: with ``use_cache=True`` (Llama's default, also in train
    mode) the model creates a cache, and ``create_causal_mask`` only derives the packed-sequence
    mask from position ids when there is no cache, so packed documents WOULD attend to each other.
    """
    model.config.use_cache = False
    return model


# attention implementations by how packed rows reach them (see the module docstring)
MASKED_ATTENTION = ("sdpa", "eager")
VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3")
ATTENTION_CHOICES = MASKED_ATTENTION + VARLEN_ATTENTION


def attention_path(attn_implementation: str) -> str:
    """``"mask"`` or ``"varlen"``: how batches must be collated so that packed documents never
    attend to each other with this attention implementation; any other is an error, raised before
    a model is loaded or a job spends its queue time."""
    if attn_implementation in MASKED_ATTENTION:
        import transformers
        from transformers import masking_utils
        # transformers 4.x (create_causal_mask, 4.57) silently drops the packed-sequence mask
        # below torch 2.6; 5.x (main, as read) applies it whatever the torch
        if int(transformers.__version__.split(".")[0]) < 5 \
                and not getattr(masking_utils, "_is_torch_greater_or_equal_than_2_6", True):
            raise ValueError(f"--attn-implementation {attn_implementation}: this torch is older "
                             "than 2.6, where transformers ignores document boundaries in packed "
                             "rows; install torch >= 2.6")
        return "mask"
    if attn_implementation in VARLEN_ATTENTION:
        return "varlen"
    raise ValueError(f"--attn-implementation {attn_implementation!r}: packed training keeps "
                     f"documents apart only with {', '.join(ATTENTION_CHOICES)} (sdpa/eager by a "
                     "block-diagonal mask, flash attention by flattened batches with cumulative "
                     "sequence lengths); choose one of these")


def split_documents(row: dict) -> list[dict]:
    """A packed row's documents, each ``{"input_ids", "labels"}`` as lists, cut where its
    position ids restart at 0 (also where a CPT document cut by the previous row continues)."""
    pos = np.asarray(row["position_ids"])
    cuts = np.union1d([0], np.flatnonzero(pos == 0)).tolist() + [len(pos)]
    ids, labels = np.asarray(row["input_ids"]), np.asarray(row["labels"])
    return [{"input_ids": ids[a:b].tolist(), "labels": labels[a:b].tolist()}
            for a, b in zip(cuts[:-1], cuts[1:])]


@dataclass
class TokenCounter:
    """Real (non-padding) tokens the collator has handed out: for tokens/s in the train log."""
    tokens: int = 0


@dataclass
class Collator:
    """Batches for the Trainer.

    Packed rows, ``flatten=False`` (sdpa/eager): rows padded to the longest, no attention mask
    (transformers derives the block-diagonal mask from position ids); padding gets its own
    position run so it forms a separate block with no labels.
    Packed rows, ``flatten=True`` (flash attention): the micro-batch's documents in one row with
    ``cu_seq_lens_q/k`` and ``max_length_q/k``, by transformers' DataCollatorWithFlattening (which
    masks each document's first label, as the packed rows already do).
    Unpacked rows: the usual right padding with an attention mask (correct with every kernel).

    A row's first label is masked too: no logit predicts it, yet the Trainer counts it in the
    loss denominator (``num_items_in_batch`` = labels != -100), and the flattened batch masks it,
    so both collations give the same loss.
    """
    pad_id: int
    counter: TokenCounter = field(default_factory=TokenCounter)
    flatten: bool = False

    def __post_init__(self):
        self._flattener = None
        if self.flatten:
            from transformers import DataCollatorWithFlattening
            self._flattener = DataCollatorWithFlattening(return_flash_attn_kwargs=True,
                                                         return_tensors="pt")

    def __call__(self, rows: list[dict]):
        if self.flatten and "position_ids" in rows[0]:
            return self._flattened(rows)
        import torch
        width = max(len(r["input_ids"]) for r in rows)
        packed = "position_ids" in rows[0]
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        extra = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.as_tensor(r["input_ids"])
            labels[i, 1:n] = torch.as_tensor(r["labels"][1:])
            if packed:
                extra[i, :n] = torch.as_tensor(r["position_ids"])
                extra[i, n:] = torch.arange(width - n)
            else:
                extra[i, :n] = 1
            self.counter.tokens += n
        batch = {"input_ids": ids, "labels": labels}
        batch["position_ids" if packed else "attention_mask"] = extra
        return batch

    def _flattened(self, rows: list[dict]):
        docs = [d for r in rows for d in split_documents(r)]
        self.counter.tokens += sum(len(d["input_ids"]) for d in docs)
        return self._flattener(docs)
