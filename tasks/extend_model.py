#!/usr/bin/env python
"""Resize a causal LM's embeddings for an extended tokenizer (vocab padded to a multiple of 64).

Example: python tasks/extend_model.py --model Unbabel/TowerBase-7B-v0.1 --tokenizer tok_ext --init mean --out base_ext
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.options import positive_int, tokenizer_source  # noqa: E402
from spire.io import atomic_path  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="base model: HF directory or hub id")
    ap.add_argument("--tokenizer", required=True, help="extended tokenizer directory")
    ap.add_argument("--out", required=True, help="output model directory (model + tokenizer)")
    ap.add_argument("--init", default="mean", choices=["default", "mean"],
                    help="new rows: transformers default, or N(mean, 1e-5 cov) of old rows")
    ap.add_argument("--pad-to", type=positive_int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                    help="dtype to load/save the weights (auto = as stored)")
    args = ap.parse_args(argv)
    tokenizer_source(args.tokenizer, "--tokenizer")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from spire.model_ext import extend_model
    log = get_logger("extend_model")
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    log_read(log, "tokenizer", args.tokenizer, f"{len(tok)} tokens")
    dtype = args.dtype if args.dtype == "auto" else getattr(torch, args.dtype)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=dtype)
    log_read(log, "model", args.model)
    extend_model(model, len(tok), args.init, args.pad_to, args.seed)
    for k in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.config, k, getattr(tok, k))
        setattr(model.generation_config, k, getattr(tok, k))
    with atomic_path(args.out) as tmp:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
    log_wrote(log, "model", args.out, f"vocab {model.config.vocab_size}")


if __name__ == "__main__":
    main()
