"""Embedding resize for the extended vocabulary (docs/paper.md §2).

The matrix grows to the tokenizer's size padded to a multiple of 64 (37005 → 37056 for Tower), so
the instruct tokens (37005, 37006) fall into rows that already exist. New rows are initialised
either by transformers' default or, as the authors did, from a Gaussian with the old rows' mean
and 1e-5 × their covariance, for the input and the output embedding alike.
"""
from __future__ import annotations

import torch

from spire.log import get_logger

log = get_logger(__name__)
INITS = ("default", "mean")


def padded_vocab_size(n: int, multiple: int = 64) -> int:
    return -(-n // multiple) * multiple


def sample_like_rows(old: torch.Tensor, n_new: int, scale: float = 1e-5,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``n_new`` rows from N(mean(old), scale·cov(old)), computed in float64.

    Hand-written rather than ``resize_token_embeddings(mean_resizing=True)`` because that
    uses transformers' own scale (1e-9) and samples both matrices only for tied embeddings;
    the authors' recipe is 1e-5 for input and output embeddings.
    """
    x = old.detach().to(torch.float64)
    mean = x.mean(0)
    centered = x - mean
    cov = centered.T @ centered / max(x.shape[0] - 1, 1)
    # symmetric square root from eigh: Σ may be singular (fewer old rows than dimensions), where
    # a Cholesky factor would not exist
    evals, evecs = torch.linalg.eigh(scale * cov)
    root = evecs * evals.clamp(min=0).sqrt()
    z = torch.randn(n_new, cov.shape[0], dtype=torch.float64, generator=generator)
    return (mean + z @ root.T).to(old.dtype)


def extend_model(model, new_vocab: int, init: str = "mean", pad_to: int = 64, seed: int = 0):
    """Resize input and output embeddings of ``model`` to ``new_vocab`` padded to ``pad_to``."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose from {INITS}")
    old_rows = model.get_input_embeddings().weight.shape[0]
    target = padded_vocab_size(new_vocab, pad_to)
    if target < old_rows:
        raise ValueError(f"the model has {old_rows} embedding rows, more than the new vocabulary "
                         f"({new_vocab} padded to {target}); is this the right tokenizer?")
    if target == old_rows:
        log.info("embeddings already have %d rows; nothing to resize", target)
        return model
    old_in = model.get_input_embeddings().weight.detach().clone()
    out_emb = model.get_output_embeddings()
    old_out = out_emb.weight.detach().clone() if out_emb is not None else None
    model.resize_token_embeddings(target, mean_resizing=False)
    if init == "mean":
        g = torch.Generator().manual_seed(seed)
        n_new = target - old_rows
        with torch.no_grad():
            model.get_input_embeddings().weight[old_rows:] = sample_like_rows(old_in, n_new, generator=g)
            if old_out is not None and not model.config.tie_word_embeddings:
                model.get_output_embeddings().weight[old_rows:] = sample_like_rows(
                    old_out, n_new, generator=g)
    model.config.vocab_size = target
    log.info("resized embeddings %d → %d rows (init %s)", old_rows, target, init)
    return model
