#!/usr/bin/env python
"""Greedy decoding: prompts JSONL ({"id", "prompt", "chat"}) -> one hypothesis per line, input order.

Prompts reach the model as token ids tokenised as training tokenised the same text ("chat": true,
from build_prompts.py --style instruct: as the IT rows, no BOS but the chat template's own; plain
prompts: as CPT documents, one BOS first), never re-tokenised by vLLM or HF with a BOS of their own.

vLLM when installed with a GPU (--backend auto), batched Hugging Face generate otherwise.
Stops at eos (from the tokenizer / generation config) and at --stop strings; a newline inside a
hypothesis becomes a space so lines never shift. An interrupted run resumes from
<out>.partial.jsonl.

Example (base model, few-shot):
  python tasks/decode.py --model MODEL_DIR --prompts prompts.jsonl --out hyps.txt --stop-newline

Interpreter: decoding with vLLM needs its own environment (`make gpu-env`, requirements-gpu.txt).
With --python PY, or SPIRE_DECODE_PYTHON=PY in the environment (e.g. .venv-gpu/bin/python), this
script re-runs itself under PY; everything else in the workflow stays in the main environment.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _reexec_under_configured_python(argv: list[str]) -> None:
    """Run this script under --python / SPIRE_DECODE_PYTHON when that is another interpreter;
    before importing spire.decoding, whose back-ends differ between the environments."""
    py = os.environ.get("SPIRE_DECODE_PYTHON", "")
    if "--python" in argv:
        i = argv.index("--python")
        if i + 1 >= len(argv):
            sys.exit("decode.py: --python needs an interpreter path")
        py, argv = argv[i + 1], argv[:i] + argv[i + 2:]
    if not py or os.path.realpath(py) == os.path.realpath(sys.executable):
        sys.argv[1:] = argv
        return
    if not (os.path.isfile(py) and os.access(py, os.X_OK)):
        sys.exit(f"decode.py: decode interpreter {py!r} (--python or SPIRE_DECODE_PYTHON) is not "
                 "an executable file; run `make gpu-env` or unset it")
    env = dict(os.environ, SPIRE_DECODE_PYTHON="")  # the child must not re-exec again
    os.execve(py, [py, os.path.abspath(__file__), *argv], env)


if __name__ == "__main__":
    _reexec_under_configured_python(sys.argv[1:])

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# transformers' generation module imports scikit-learn whenever it is installed (for assisted
# decoding's roc_curve, which greedy decoding never calls): 1.4 s of a 9 s decoding task's
# start-up on the miniature's CPU (bench/bench_decode_startup.py), and the demo runs 42 of them.
# A None in sys.modules makes importlib report the package absent, for this process only.
if os.environ.get("SPIRE_DECODE_SKLEARN", "") != "1":
    sys.modules.setdefault("sklearn", None)

from spire.options import positive_int  # noqa: E402
from spire.decoding import BACKENDS, decode_file  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402

log = get_logger("decode")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="Hugging Face model folder (or hub id)")
    p.add_argument("--prompts", required=True, help="decode-input JSONL from build_prompts.py")
    p.add_argument("--out", required=True, help="hypotheses, one per line")
    p.add_argument("--max-new-tokens", type=positive_int, default=256, help="paper: 256")
    p.add_argument("--stop", action="append", default=[], metavar="STRING",
                   help="stop string (repeatable; \\n and \\t are unescaped)")
    p.add_argument("--stop-newline", action="store_true", help="stop at a newline (base few-shot)")
    p.add_argument("--batch-size", type=positive_int.from_tconf("decode_batch_size"), default=16,
                   help="HF back-end batch size")
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16")
    p.add_argument("--chunk-size", type=positive_int, default=2048,
                   help="vLLM: prompts per chunk between resumable writes")
    p.add_argument("--python", help="interpreter to run under (default: $SPIRE_DECODE_PYTHON, "
                                    "else this one); handled before parsing")
    return p.parse_args(argv)


def main(argv=None) -> None:
    a = parse_args(argv)
    stop = [s.replace("\\n", "\n").replace("\\t", "\t") for s in a.stop]
    if a.stop_newline:
        stop.append("\n")
    log_read(log, "prompts", a.prompts)
    log_read(log, "model", a.model)
    n = decode_file(a.model, a.prompts, a.out, max_new_tokens=a.max_new_tokens, stop=stop or None,
                    batch_size=a.batch_size, backend=a.backend, dtype=a.dtype,
                    chunk_size=a.chunk_size)
    log_wrote(log, "hypotheses", a.out, f"{n} lines")


if __name__ == "__main__":
    main()
