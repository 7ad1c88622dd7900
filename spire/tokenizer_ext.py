"""Vocabulary extension (docs/paper.md §2): 5 specials, then one token per speech unit, then ChatML.

A SentencePiece-backed tokenizer (TowerBase's, or the miniature's) is extended by editing its
model proto, as the authors did, so that ``tokenizer.model`` itself knows the units and every tool
that reads it (transformers, vLLM, sentencepiece) agrees. Unit pieces are NORMAL pieces (single
characters) with decreasing BPE-style scores below every existing piece: BPE starts from
characters, so each unit character becomes exactly one token, and no existing merge involves them,
so ordinary text encodes as before. ``<extra_id_i>`` units are multi-character strings that BPE
would never build, so that format uses USER_DEFINED pieces (matched before BPE).

The class we ship is ``LlamaTokenizerFast`` converted from the edited proto with ``legacy=False``
and ``add_prefix_space=True``. Measured here (docs/environment.md): the slow tokenizer and the legacy
fast one put extra ``▁`` pieces around user-defined symbols, and a fast tokenizer built without an
explicit ``add_prefix_space`` drops the leading ``▁``; this combination encodes units as one token
each, alone, inside words and after ``Speech: ``, and decodes back to the exact string.

Tokenizers without a SentencePiece model (e.g. byte-level BPE) get the same tokens as added tokens
(``AddedToken(normalized=False)`` so a run of units matches unit by unit).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from spire.units import unit_char

SPECIALS = ("<CLS>", "<EOD>", "<MASK>", "<PAD>", "<SEP>")  # docs/paper.md §2, ids 32000-32004 for Tower
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
# ChatML (docs/paper.md §2). The {% generation %} markers let transformers return the assistant-token
# mask (loss on assistant turns and their <|im_end|> only); they do not change the rendered text.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{ message['content'] + '<|im_end|>' + '\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SHIPPED_CLASS = "LlamaTokenizerFast"


def unit_piece(i: int, unit_format: str = "pua") -> str:
    if unit_format == "pua":
        return unit_char(i)
    if unit_format == "extra_id":
        return f"<extra_id_{i}>"
    raise ValueError(f"unit format {unit_format!r} cannot be a token; use 'pua' or 'extra_id'")


def sp_model_file(tokenizer_or_path) -> Path | None:
    """The SentencePiece model behind a tokenizer (object or directory), or None if it has none."""
    if isinstance(tokenizer_or_path, (str, os.PathLike)):
        p = Path(tokenizer_or_path)
        if p.is_file():
            return p
        cand = p / "tokenizer.model"
        return cand if cand.is_file() else None
    vf = getattr(tokenizer_or_path, "vocab_file", None)
    return Path(vf) if vf and Path(vf).is_file() else None


def load_proto(model_file):
    from sentencepiece import sentencepiece_model_pb2 as pb
    proto = pb.ModelProto()
    proto.ParseFromString(Path(model_file).read_bytes())
    return proto


def _add_pieces(proto, pieces: list[str], kind: str, scores: list[float] | None = None) -> int:
    """Append ``pieces`` unless already present at exactly the next positions; return # added.

    Re-running on an already extended proto (e.g. the instruct tokenizer made from the extended
    base one) keeps its ids; a piece present at another position means an incompatible vocabulary.
    """
    from sentencepiece import sentencepiece_model_pb2 as pb
    ptype = getattr(pb.ModelProto.SentencePiece, kind)
    index = {p.piece: i for i, p in enumerate(proto.pieces)}
    added = 0
    for k, piece in enumerate(pieces):
        if piece in index:
            if added:
                raise ValueError(f"piece {piece!r} already in the vocabulary at id {index[piece]}, "
                                 "but earlier pieces of the same group were missing")
            continue
        if added == 0 and k:
            raise ValueError(f"the vocabulary has the first {k} of {len(pieces)} {kind} pieces "
                             f"but not {piece!r}: it was extended differently")
        proto.pieces.add(piece=piece, score=scores[k] if scores else 0.0, type=ptype)
        index[piece] = len(proto.pieces) - 1
        added += 1
    return added


def extend_proto(proto, num_units: int, unit_format: str = "pua", instruct: bool = False):
    """Append specials, ``num_units`` unit pieces and (``instruct``) the ChatML tokens in place."""
    if proto.trainer_spec.model_type != 2:  # 2 = BPE; Tower/Llama-2 and our mini model are BPE
        raise ValueError("only BPE SentencePiece models are supported "
                         f"(model_type={proto.trainer_spec.model_type})")
    _add_pieces(proto, list(SPECIALS), "CONTROL")
    low = min(p.score for p in proto.pieces)
    units = [unit_piece(i, unit_format) for i in range(num_units)]
    kind = "NORMAL" if unit_format == "pua" else "USER_DEFINED"
    _add_pieces(proto, units, kind, [low - 1.0 - i for i in range(num_units)])
    if instruct:
        _add_pieces(proto, [IM_END, IM_START], "CONTROL")
    return proto


def hf_tokenizer_from_sp(model_file, instruct: bool = False):
    """The shipped HF tokenizer for a SentencePiece model (see module docstring for the flags)."""
    from spire.compat import llama_tokenizer_from_sp
    proto = load_proto(model_file)
    pieces = {p.piece for p in proto.pieces}
    specials = [s for s in SPECIALS if s in pieces]
    eos = "</s>"
    kwargs = {}
    if instruct:
        specials += [IM_START]
        eos = IM_END
        kwargs["chat_template"] = CHATML_TEMPLATE
    tok = llama_tokenizer_from_sp(
        model_file, legacy=False, add_prefix_space=True,
        bos_token="<s>", eos_token=eos, unk_token="<unk>",
        pad_token="</s>",  # pad = eos of the base tokenizer (docs/paper.md §2); never carries loss
        additional_special_tokens=specials, add_bos_token=True, add_eos_token=False, **kwargs)
    return tok


def extend_tokenizer(base, out_dir, num_units: int, unit_format: str = "pua",
                     instruct: bool = False):
    """Write the extended tokenizer of ``base`` (directory or hub id) to ``out_dir``; load it."""
    from transformers import AutoTokenizer
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(str(base))
    model_file = sp_model_file(base) or sp_model_file(tok)
    if model_file is None:
        tok = extend_with_added_tokens(tok, num_units, unit_format, instruct)
    else:
        proto = extend_proto(load_proto(model_file), num_units, unit_format, instruct)
        with tempfile.TemporaryDirectory(prefix="spire_tok_") as tmp:
            new_model = Path(tmp) / "tokenizer.model"
            new_model.write_bytes(proto.SerializeToString())
            max_len = tok.model_max_length
            tok = hf_tokenizer_from_sp(new_model, instruct=instruct)
            tok.model_max_length = max_len
            tok.save_pretrained(str(out_dir))  # copies tokenizer.model beside tokenizer.json
        return AutoTokenizer.from_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))
    return AutoTokenizer.from_pretrained(str(out_dir))


def extend_with_added_tokens(tok, num_units: int, unit_format: str = "pua",
                             instruct: bool = False):
    """Extension for tokenizers without SentencePiece: the same tokens as HF added tokens."""
    from transformers import AddedToken

    from spire.compat import add_extra_special_tokens, set_special_token
    if not getattr(tok, "is_fast", False):
        raise ValueError(f"{type(tok).__name__}: a tokenizer without a SentencePiece model must "
                         "be a fast (tokenizers) tokenizer")
    add_extra_special_tokens(tok, list(SPECIALS))
    tok.add_tokens([AddedToken(unit_piece(i, unit_format), normalized=False, special=False)
                    for i in range(num_units)])
    if instruct:
        set_special_token(tok, "eos_token", IM_END)
        add_extra_special_tokens(tok, [IM_START])
        tok.chat_template = CHATML_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def unit_token_ids(tok, num_units: int, unit_format: str = "pua") -> list[int]:
    """Id of every unit; an error names the first unit that is not exactly one known token."""
    ids = []
    for i in range(num_units):
        piece = unit_piece(i, unit_format)
        enc = tok.encode(piece, add_special_tokens=False)
        enc = [t for t in enc if tok.convert_ids_to_tokens(t) != "▁"]
        if len(enc) != 1 or enc[0] == tok.unk_token_id:
            raise ValueError(f"unit {i} ({piece!r}) is not one token of this tokenizer "
                             f"({tok.convert_ids_to_tokens(enc)}); was it extended with "
                             f">= {i + 1} units in format {unit_format!r}?")
        ids.append(enc[0])
    return ids
