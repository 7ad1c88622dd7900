#!/usr/bin/env python
"""Train a causal LM: continued pre-training on {"text"} JSONL or instruction tuning on
{"messages"} JSONL (ChatML, loss on assistant turns), with packing, DeepSpeed and auto-resume.

Single process:   python tasks/train_lm.py --model M --train-file cpt.jsonl --output-dir OUT
Paper scale: pack once with tasks/pack_corpus.py, then --train-data PACKED (memory-mapped, each
rank reads only its rows; --train-file packs into the checkpoint directory at the first start).
Several GPUs/nodes: see tasks/launch_train.py (deepspeed/torchrun, hostfile or Slurm).
A rerun with the same --output-dir (and --checkpoint-dir) resumes from the latest checkpoint,
if the checkpoint directory's fingerprint.json says it was made from the same model, data and
result-changing settings; otherwise it stops, naming what differs (--fresh: start over, moving the
old checkpoints aside). Every value is checked before anything loads, in one line.
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.launch import INCOMPLETE_FILE_ENV  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402
from spire.options import (OptionParser, exit_status, fraction, int_at_least,  # noqa: E402
                           nonneg_float, nonneg_int, positive_float, positive_int, steps_or_off,
                           tconf_hints)


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"{value!r}: expected true or false")


def parse_args(argv=None):
    # every value is checked here, before anything loads, in one line naming the tconf variable
    ap = OptionParser(prog="train_lm.py", description=__doc__, hints=tconf_hints(),
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--model", required=True, help="HF model directory or hub id to start from")
    a("--tokenizer", help="tokenizer directory (default: the model's)")
    data = ap.add_mutually_exclusive_group(required=True)
    data.add_argument("--train-file", help="CPT ({'text'}) or IT ({'messages'}) JSONL")
    data.add_argument("--train-data", help="packed directory from tasks/pack_corpus.py")
    a("--output-dir", required=True, help="final HF model directory (written at the end)")
    a("--checkpoint-dir", help="checkpoints + live log (default: OUTPUT_DIR.checkpoints); "
                               "reused on rerun to resume")
    a("--seq-len", type=int_at_least(2), help="tokens per row (default: the packed data's; 2048 for --train-file)")
    a("--no-packing", dest="packing", action="store_false",
      help="one example per row, padded per batch (baseline; slower)")
    a("--micro-batch", type=positive_int, default=8, help="rows per device per step")
    a("--grad-accum", type=positive_int, default=1)
    a("--lr", type=positive_float, default=2e-5)
    a("--min-lr-ratio", type=fraction, default=0.0, help="cosine floor as a fraction of --lr")
    a("--warmup-steps", type=nonneg_int, default=0)
    a("--warmup-ratio", type=fraction, default=0.0, help="used when --warmup-steps is 0")
    a("--weight-decay", type=nonneg_float, default=0.0)
    a("--max-grad-norm", type=nonneg_float, default=1.0)
    a("--num-epochs", type=positive_float, default=1.0)
    a("--max-steps", type=steps_or_off, default=-1, help="overrides --num-epochs when > 0")
    a("--max-minutes", type=positive_float, help="wall-clock budget: stop, checkpoint and save after it")
    a("--seed", type=nonneg_int, default=42)
    a("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"],
      help="auto = bf16 on GPU and on CPUs with bf16 instructions (AVX512-BF16, AMX), else fp32")
    a("--gradient-checkpointing", nargs="?", const=True, default=False, type=_flag,
      help="recompute activations in the backward pass (alone, or with true/false)")
    a("--deepspeed", help="DeepSpeed JSON, e.g. configs/deepspeed/zero2.json")
    a("--attn-implementation", default="sdpa",
      help="sdpa or eager (packed documents kept apart by a block-diagonal mask), "
           "flash_attention_2 or flash_attention_3 (micro-batches flattened into one row with the "
           "documents' cumulative lengths); anything else is refused, as packing would mix documents")
    a("--logging-steps", type=positive_int, default=10)
    a("--save-steps", type=positive_int, default=500)
    a("--save-minutes", type=positive_float, help="also checkpoint every N minutes of wall-clock time")
    a("--exit-incomplete-code", type=exit_status, help="exit with this status, without a final model, when "
      "--max-minutes stops the run before its planned steps (the checkpoint resumes it); default: "
      "the model it stops at is final")
    a("--save-total-limit", type=positive_int, default=2)
    a("--report-to", default="tensorboard",
      help="trackers: tensorboard (event files in OUTPUT_DIR/runs, offline), wandb, mlflow (where "
           "installed), several with commas, or none")
    a("--valid-size", type=nonneg_float, default=0.0,
      help="rows held out for a validation loss (seeded by --seed, never trained on): a share of "
           "the packed rows (< 1) or a number of rows (>= 1); 0: no validation")
    a("--eval-steps", type=positive_int, default=200,
      help="validation loss every N steps, and at the last step (with --valid-size)")
    a("--keep-checkpoints", action="store_true", help="keep the checkpoint dir after success")
    a("--fresh", action="store_true", help="start from step 0: move the checkpoint dir of an "
      "earlier run aside (CKPT.stale-TIMESTAMP) instead of resuming or refusing it")
    a("--adopt-checkpoints", action="store_true", help="resume checkpoints that have no "
      "fingerprint.json (an older trainer's) and record this run's; checkpoints whose fingerprint "
      "differs are still refused")
    a("--max-examples", type=positive_int, help="read only the first N corpus lines (debugging)")
    a("--torch-threads", type=positive_int, help="torch.set_num_threads (1 per process is fastest on a "
                                        "busy small CPU)")
    a("--config", help="YAML of defaults for these flags (keys as the flags, with _); flags on "
                       "the command line win. The workflow passes everything as flags from the tconf")
    a("--local_rank", "--local-rank", type=int, default=-1, help=argparse.SUPPRESS)  # deepspeed launcher
    args = ap.parse_args(argv)
    if args.config:
        import yaml
        cfg = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
        known = {a.dest for a in ap._actions}
        unknown = sorted(set(cfg) - known)
        if unknown:
            ap.error(f"{args.config}: unknown key(s) {unknown}")
        # as text through each flag's type=, so that a YAML value is checked like a flag's
        typed = {a.dest for a in ap._actions if a.type is not None}
        ap.set_defaults(**{k: str(v) if k in typed and v is not None else v for k, v in cfg.items()})
        args = ap.parse_args(argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    from spire.fingerprint import ModelNotFound, ResumeRefused
    from spire.training import TrainingIncomplete, TrainOptions, train
    log = get_logger("train_lm")
    opts = TrainOptions(**{k: v for k, v in vars(args).items() if k not in ("local_rank", "config")})
    log_read(log, "corpus", args.train_file or args.train_data)
    log_read(log, "model", args.model)
    try:
        out = train(opts)
    except (ModelNotFound, ResumeRefused) as e:
        if int(os.environ.get("RANK", "0")) == 0:  # every rank refuses alike: say it once
            log.error("%s", e)
        return 2
    except TrainingIncomplete as e:
        log.warning("%s (exit %d)", e, e.code)
        marker = os.environ.get(INCOMPLETE_FILE_ENV)  # for the launcher, behind torchrun
        if marker:
            Path(marker).write_text(f"{e.code}\n{e}\n", encoding="utf-8")
        return e.code
    log_wrote(log, "model", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
