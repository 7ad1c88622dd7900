#!/usr/bin/env python
"""Randomly initialise a LlamaForCausalLM for a tokenizer; save model + tokenizer (HF dir).

Example: python tasks/init_llama.py --tokenizer tok --preset mini --out base_init
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.options import positive_int, tokenizer_source  # noqa: E402
from spire.io import atomic_path  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402


def main(argv=None):
    from spire.mini.base_lm import LLAMA_PRESETS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="HF tokenizer directory")
    ap.add_argument("--out", required=True, help="output model directory")
    ap.add_argument("--preset", default="mini", choices=sorted(LLAMA_PRESETS))
    ap.add_argument("--hidden-size", type=positive_int)
    ap.add_argument("--layers", type=positive_int, dest="num_hidden_layers")
    ap.add_argument("--heads", type=positive_int, dest="num_attention_heads")
    ap.add_argument("--kv-heads", type=positive_int, dest="num_key_value_heads")
    ap.add_argument("--intermediate-size", type=positive_int)
    ap.add_argument("--max-positions", type=positive_int, dest="max_position_embeddings")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    tokenizer_source(args.tokenizer, "--tokenizer")

    from transformers import AutoTokenizer
    from spire.mini.base_lm import init_llama
    log = get_logger("init_llama")
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    log_read(log, "tokenizer", args.tokenizer)
    over = {k: getattr(args, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                          "num_key_value_heads", "intermediate_size",
                                          "max_position_embeddings")}
    if over["num_attention_heads"] and not over["num_key_value_heads"]:
        over["num_key_value_heads"] = over["num_attention_heads"]
    model = init_llama(tok, args.preset, seed=args.seed, **over)
    with atomic_path(args.out) as tmp:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
    log_wrote(log, "model", args.out,
              f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")


if __name__ == "__main__":
    main()
