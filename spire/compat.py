"""The differences between transformers 4.57 (the CPU/CI environment) and 5.x (the GPU machines
and vLLM), handled here and nowhere else. Each helper says what changed.

- Tokenizers from a SentencePiece model: 4.x converts ``LlamaTokenizerFast(vocab_file=...,
  from_slow=True)``; 5.x ignores ``vocab_file`` in the constructor (an empty 3-token vocabulary)
  and converts only in ``from_pretrained`` of a directory holding ``tokenizer.model``.
- ``add_special_tokens(..., replace_additional_special_tokens=)`` became
  ``replace_extra_special_tokens=`` and ``additional_special_tokens`` became
  ``extra_special_tokens``.
- ``TrainingArguments(warmup_ratio=)`` is gone; ``warmup_steps`` < 1 is the ratio.
- ``apply_chat_template(tokenize=True)`` returns a dict by default: pass ``return_dict=False``
  for a list of ids (or ``return_dict=True`` and read ``input_ids``) in both.
(``from_pretrained(dtype=)`` works in both, ``torch_dtype=`` only in 4.x: use ``dtype=``.)
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import transformers

MAJOR = int(transformers.__version__.split(".")[0])


def is_v5() -> bool:
    return MAJOR >= 5


def special_tokens_key() -> str:
    """The name of the list of extra special tokens (``additional_special_tokens`` in 4.x)."""
    return "extra_special_tokens" if is_v5() else "additional_special_tokens"


def add_extra_special_tokens(tok, tokens: list) -> int:
    """Append special tokens, keeping the ones already there."""
    if is_v5():
        return tok.add_special_tokens({"extra_special_tokens": list(tokens)},
                                      replace_extra_special_tokens=False)
    return tok.add_special_tokens({"additional_special_tokens": list(tokens)},
                                  replace_additional_special_tokens=False)


def set_special_token(tok, name: str, token) -> int:
    """Set ``eos_token`` etc. without dropping the extra special tokens."""
    if is_v5():
        return tok.add_special_tokens({name: token}, replace_extra_special_tokens=False)
    return tok.add_special_tokens({name: token}, replace_additional_special_tokens=False)


def extra_special_tokens(tok) -> list[str]:
    vals = getattr(tok, special_tokens_key(), None) or []
    return [str(v) for v in (vals.values() if isinstance(vals, dict) else vals)]


def llama_tokenizer_from_sp(model_file, **kwargs):
    """A fast Llama tokenizer converted from a SentencePiece ``tokenizer.model``."""
    from transformers import LlamaTokenizerFast
    specials = kwargs.pop("additional_special_tokens", None)
    if specials is not None:
        kwargs[special_tokens_key()] = specials
    if not is_v5():
        return LlamaTokenizerFast(vocab_file=str(model_file), from_slow=True, **kwargs)
    with tempfile.TemporaryDirectory(prefix="spire_sp_") as tmp:
        shutil.copy(model_file, Path(tmp) / "tokenizer.model")
        tok = LlamaTokenizerFast.from_pretrained(tmp, **kwargs)
        tok.name_or_path = str(model_file)
        return tok


def warmup_kwargs(steps: int, ratio: float) -> dict:
    """``TrainingArguments`` warm-up: 5.x dropped ``warmup_ratio``; its ``warmup_steps`` takes a
    float in [0, 1) as the ratio instead."""
    if is_v5():
        return {"warmup_steps": steps if steps else float(ratio)}
    return {"warmup_steps": steps, "warmup_ratio": ratio if not steps else 0.0}
