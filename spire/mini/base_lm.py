"""The miniature's text base model ("mini TowerBase"): a SentencePiece tokenizer trained on local
text and a randomly initialised Llama, later trained on text with ``tasks/train_lm.py``.

The same code makes a Llama of any size from a preset, so the full-scale path (TowerBase from
the hub) and the miniature differ only in where the base model comes from.
"""
from __future__ import annotations

import collections
import tempfile
from pathlib import Path

from spire.languages import LANGUAGE_NAMES
from spire.log import get_logger

log = get_logger(__name__)

# Llama shapes. "mini" is the miniature's (docs/miniature.md: hidden 192, 4 layers, 4 heads, ~2M
# parameters with a ~1k vocabulary); "tiny" is for tests; "7b" is Llama-2-7B/TowerBase's shape.
LLAMA_PRESETS = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=2, intermediate_size=64, max_position_embeddings=512),
    "mini": dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=4, intermediate_size=512, max_position_embeddings=2048),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, intermediate_size=8192, max_position_embeddings=2048),
    "7b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=32, intermediate_size=11008, max_position_embeddings=4096),
}


def prompt_symbols() -> list[str]:
    """Prompt words kept whole (docs/miniature.md pitfalls): ``Speech:`` and ``{Language}:``."""
    return ["Speech:"] + [f"{name}:" for name in LANGUAGE_NAMES.values()]


def train_sentencepiece(text_files: list, out_model: str | Path, vocab_size: int = 1000,
                        user_symbols: list[str] | None = None, max_sentences: int = 2_000_000,
                        seed: int = 0) -> Path:
    """Train a BPE SentencePiece model with the settings that keep Spire's formats intact.

    identity normalisation and no whitespace squeezing keep ``\\n`` and spaces as written; byte
    fallback means no ``<unk>`` for unseen characters (the unit characters are added later by
    :mod:`spire.tokenizer_ext`); ids 0/1/2 = unk/bos/eos as in Llama-2 so the Llama converter
    applies. ``hard_vocab_limit=False`` lets SentencePiece stop early on a small corpus instead
    of failing; the caller checks how many pieces are actually used (:func:`piece_usage`).
    """
    import sentencepiece as spm
    out_model = Path(out_model)
    files = [str(Path(f)) for f in text_files]
    for f in files:
        if not Path(f).is_file():
            raise FileNotFoundError(f"{f}: no such text file")
    spm.set_random_generator_seed(seed)
    with tempfile.TemporaryDirectory(prefix="spire_spm_") as tmp:
        prefix = Path(tmp) / "sp"
        spm.SentencePieceTrainer.train(
            input=",".join(files), model_prefix=str(prefix), vocab_size=vocab_size,
            model_type="bpe", normalization_rule_name="identity", remove_extra_whitespaces=False,
            byte_fallback=True, split_digits=True, character_coverage=1.0,
            user_defined_symbols=list(user_symbols if user_symbols is not None
                                      else prompt_symbols()),
            unk_id=0, bos_id=1, eos_id=2, pad_id=-1, hard_vocab_limit=False,
            input_sentence_size=max_sentences, shuffle_input_sentence=True, seed_sentencepiece_size=1_000_000,
            num_threads=1, minloglevel=2)
        out_model.parent.mkdir(parents=True, exist_ok=True)
        out_model.write_bytes(prefix.with_suffix(".model").read_bytes())
    return out_model


def piece_usage(tokenizer, lines: list[str]) -> tuple[int, int]:
    """(pieces used when encoding ``lines``, learned pieces): a vocabulary larger than the corpus
    supports fills with merges that never occur (docs/miniature.md pitfalls)."""
    counts = collections.Counter()
    for ids in tokenizer(lines, add_special_tokens=False)["input_ids"]:
        counts.update(ids)
    learned = [i for i, t in enumerate(tokenizer.convert_ids_to_tokens(range(len(tokenizer))))
               if t is not None and not (t.startswith("<0x") and t.endswith(">"))]
    return sum(1 for i in learned if counts[i]), len(learned)


def llama_config(preset: str, vocab_size: int, tokenizer=None, **overrides):
    from transformers import LlamaConfig
    if preset not in LLAMA_PRESETS:
        raise ValueError(f"unknown Llama preset {preset!r}; choose from {sorted(LLAMA_PRESETS)}")
    kw = dict(LLAMA_PRESETS[preset])
    kw.update({k: v for k, v in overrides.items() if v is not None})
    if tokenizer is not None:
        kw.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                  pad_token_id=tokenizer.pad_token_id)
    return LlamaConfig(vocab_size=vocab_size, tie_word_embeddings=False, **kw)


def init_llama(tokenizer, preset: str = "mini", seed: int = 0, pad_to: int = 64, **overrides):
    """A randomly initialised ``LlamaForCausalLM`` sized for ``tokenizer`` (vocab padded to
    ``pad_to`` as in docs/paper.md §2)."""
    import torch
    from transformers import LlamaForCausalLM
    from spire.model_ext import padded_vocab_size
    torch.manual_seed(seed)
    config = llama_config(preset, padded_vocab_size(len(tokenizer), pad_to), tokenizer, **overrides)
    model = LlamaForCausalLM(config)
    log.info("initialised Llama %s: %.2fM parameters, vocab %d", preset,
             sum(p.numel() for p in model.parameters()) / 1e6, config.vocab_size)
    return model
