"""One trainer for continued pre-training (``{"text"}`` JSONL) and instruction tuning
(``{"messages"}`` JSONL): the Hugging Face ``Trainer`` with packing (:mod:`spire.packing`),
DeepSpeed ZeRO through ``--deepspeed configs/deepspeed/zeroN.json``, a JSONL log and a loss PNG,
automatic resume, a wall-clock budget, and a final plain HF model directory.

Data: ``train_data`` is a directory from ``tasks/pack_corpus.py`` (:mod:`spire.packed`), memory-
mapped, each rank reading only the rows its sampler gives it; ``train_file`` (JSONL) is packed
into ``{checkpoint_dir}/packed`` at the first start and reused by every resume.
:func:`build_rows` is the old in-memory path, kept as the reference the packed rows are tested
against and as the baseline of ``bench/bench_data.py``.

Layout of one run (``output_dir`` is the final model, written only at the end):
  ``{checkpoint_dir}/fingerprint.json`` what the run depends on (:mod:`spire.fingerprint`): a
                                       resume with another model, data or settings is refused
  ``{checkpoint_dir}/packed/``         the packed ``train_file`` (not with ``train_data``)
  ``{checkpoint_dir}/checkpoint-N/``   HF/DeepSpeed checkpoints; a rerun resumes from the latest
  ``{checkpoint_dir}/train_log.jsonl`` one JSON object per logging step (see :class:`JsonlLogger`)
  ``{checkpoint_dir}/loss.png``        the loss curve, redrawn at every checkpoint
  ``{checkpoint_dir}/runs/``           TensorBoard event files, live (:mod:`spire.tracking`)
  ``{output_dir}/``                    model + tokenizer + train_log.jsonl + loss.png + runs/ +
                                       train_summary.json
Validation (``valid_size`` > 0): a seeded share of the packed rows is held out and evaluated every
``eval_steps`` steps and at the end (:mod:`spire.tracking`).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from spire.compat import warmup_kwargs
from spire.fingerprint import (FINGERPRINT_NAME, check_resume, locate_model, start_run,
                               training_fingerprint)
from spire.io import iter_jsonl, write_json
from spire.launch import check_rank_device
from spire.log import get_logger
from spire.packed import PackedRows, pack_corpus, parse_lines, read_meta
from spire.packing import (Collator, TokenCounter, attention_path, pack_chunks, pack_examples,
                           prepare_for_packing, tokenize_conversations, tokenize_documents,
                           unpacked_rows)
from spire.tracking import (RUNS_DIR, RowsExcept, eval_records, parse_report_to, split_rows,
                            tracker_callbacks, train_records, validation_callback,
                            validation_summary)

log = get_logger(__name__)
LOG_NAME = "train_log.jsonl"
PLOT_NAME = "loss.png"
SUMMARY_NAME = "train_summary.json"


@dataclass
class TrainOptions:
    model: str
    output_dir: str
    train_file: str | None = None   # JSONL: packed into {checkpoint_dir}/packed at the first start
    train_data: str | None = None   # a directory from tasks/pack_corpus.py (the paper-scale path)
    checkpoint_dir: str | None = None
    tokenizer: str | None = None
    seq_len: int | None = None      # default: the packed data's, or 2048 for --train-file
    packing: bool = True
    micro_batch: int = 8
    grad_accum: int = 1
    lr: float = 2e-5
    min_lr_ratio: float = 0.0
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    num_epochs: float = 1.0
    max_steps: int = -1
    max_minutes: float | None = None
    seed: int = 42
    precision: str = "auto"  # resolve_precision: bf16 on GPU and on CPUs with bf16 instructions
    gradient_checkpointing: bool = False
    deepspeed: str | None = None
    attn_implementation: str = "sdpa"  # spire.packing.ATTENTION_CHOICES; others are refused
    logging_steps: int = 10
    save_steps: int = 500
    save_minutes: float | None = None  # also checkpoint after this much wall-clock time
    save_total_limit: int = 2
    keep_checkpoints: bool = False
    max_examples: int | None = None
    torch_threads: int | None = None
    # a run stopped by max_minutes before its planned steps raises TrainingIncomplete with this
    # exit code instead of saving the cut-short model as final (the cluster path: the job's clock,
    # tasks/launch_train.py --max-minutes auto); None: the model it stops at is final (miniature)
    exit_incomplete_code: int | None = None
    report_to: str = "tensorboard"  # trackers (spire.tracking): tensorboard, wandb, mlflow, none
    valid_size: float = 0.0  # held-out rows: a share (< 1) or a number (>= 1); 0: no validation
    eval_steps: int = 200    # validation loss every this many steps (and at the last step)
    fresh: bool = False              # move checkpoints of another run aside instead of refusing
    adopt_checkpoints: bool = False  # resume checkpoints that have no fingerprint (older trainer)


class TrainingIncomplete(Exception):
    """The wall-clock cap stopped training before its planned steps; a checkpoint was saved and a
    rerun with the same options resumes from it. ``code`` is the process's exit status."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def read_corpus(path: str, max_examples: int | None = None) -> tuple[str, list]:
    """("text", documents) or ("messages", conversations) from a CPT or IT JSONL file, checked
    line by line as by the packer (one parser: spire.packed.parse_lines)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    lines, n = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                if max_examples and n >= max_examples:
                    break
                n += 1
            lines.append(line)
    kind, items = parse_lines(str(path), 1, lines)
    if not items:
        raise ValueError(f"{path}: empty corpus")
    return kind, items


def build_rows(tok, path: str, seq_len: int, packing: bool = True,
               max_examples: int | None = None) -> tuple[list[dict], dict]:
    """Tokenised (and packed) training rows for ``path`` and a few statistics."""
    kind, items = read_corpus(path, max_examples)
    t0 = time.time()
    if kind == "text":
        docs = tokenize_documents(tok, items)
        examples = [(d, [-100] + d[1:]) for d in docs]
    else:
        examples = tokenize_conversations(tok, items, source=path)
    truncated = 0
    if not packing:
        rows = unpacked_rows(examples, seq_len)
        truncated = sum(len(e[0]) > seq_len for e in examples)
    elif kind == "text":
        rows = pack_chunks([e[0] for e in examples], seq_len)
    else:
        rows, truncated = pack_examples(examples, seq_len)
    n_tok = sum(len(r["input_ids"]) for r in rows)
    stats = {"kind": "cpt" if kind == "text" else "it", "examples": len(items), "rows": len(rows),
             "tokens": n_tok, "label_tokens": sum(sum(t != -100 for t in r["labels"]) for r in rows),
             "fill": n_tok / max(1, len(rows) * seq_len), "truncated": truncated,
             "tokenize_seconds": round(time.time() - t0, 2)}
    if truncated:
        log.warning("%s: %d examples longer than --seq-len %d were truncated", path, truncated, seq_len)
    return rows, stats


def global_batch(micro_batch: int, grad_accum: int, world: int, seq_len: int) -> dict:
    """Sequences and (at most) tokens per optimizer step."""
    seqs = micro_batch * grad_accum * world
    return {"sequences": seqs, "tokens": seqs * seq_len, "micro_batch": micro_batch,
            "grad_accum": grad_accum, "world_size": world, "seq_len": seq_len}


def last_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest COMPLETE checkpoint: the Trainer writes trainer_state.json last, so a run killed
    while saving leaves a checkpoint without it, which must not be resumed from."""
    done = [p for p in Path(ckpt_dir).glob("checkpoint-*")
            if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def _pack_train_file(opts: TrainOptions, tok, seq_len: int, data_dir: Path) -> None:
    """Pack ``--train-file`` into ``data_dir`` unless a complete packing of the same file with the
    same options is already there."""
    want = {"inputs": [str(opts.train_file)], "seq_len": seq_len, "packing": opts.packing,
            "max_examples": opts.max_examples, "vocab_size": len(tok)}
    if (data_dir / "meta.json").is_file():
        meta = read_meta(data_dir)
        if {k: meta.get(k) for k in want} == want:
            log.info("reusing the packed corpus %s", data_dir)
            return
        log.info("%s was packed with other options: packing again", data_dir)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    pack_corpus(str(opts.tokenizer or opts.model), [str(opts.train_file)], seq_len, str(data_dir),
                num_proc=1, packing=opts.packing, max_examples=opts.max_examples)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX tiles).

    There bf16 autocast trains the mini Llama about 1.6 times as fast as fp32
    (bench/bench_precision.py); on other CPUs oneDNN emulates bf16, slower than fp32. torch
    exposes the probe only privately, so a torch without it counts as no.
    """
    import torch
    probes = [getattr(torch.cpu, name, None)
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe() for probe in probes if probe is not None)


def resolve_precision(precision: str, cuda: bool) -> str:
    """``auto``: bf16 on a GPU and on a CPU with bf16 instructions (mixed precision, fp32 master
    weights, so the saved model is fp32 either way), fp32 on other CPUs."""
    if precision == "auto":
        return "bf16" if cuda or cpu_has_bf16() else "fp32"
    if precision not in ("bf16", "fp16", "fp32"):
        raise ValueError(f"--precision {precision!r}: choose auto, bf16, fp16 or fp32")
    return precision


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def read_log(path) -> list[dict]:
    return list(iter_jsonl(path)) if Path(path).is_file() else []


def plot_loss(log_path, png_path) -> None:
    """The loss curve (and learning rate) from a train log, drawn with matplotlib's Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    entries = read_log(log_path)
    rows, evals = train_records(entries), eval_records(entries)
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train loss")
    if evals:
        ax.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], "o-", color="tab:green",
                label="validation loss")
        ax.legend(loc="upper right")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot([r["step"] for r in rows], [r["learning_rate"] for r in rows], color="tab:orange",
             alpha=0.5, label="learning rate")
    ax2.set_ylabel("learning rate")
    ax.set_title(Path(log_path).parent.name)
    fig.tight_layout()
    tmp = Path(png_path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png_path)


def _callbacks(opts: TrainOptions, ckpt_dir: Path, counter: TokenCounter, resumed_step: int):
    import torch
    from transformers import TrainerCallback

    log_path = ckpt_dir / LOG_NAME

    class JsonlLogger(TrainerCallback):
        """Appends ``{"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens",
        "tokens_per_second", "elapsed_s"}`` per logging step (rank 0). ``tokens`` counts real
        (non-padding) input tokens of all ranks since the start of training, resumes included;
        ``tokens_per_second`` is over the last logging interval."""

        def __init__(self):
            self.t_last = time.time()
            self.tok_last = 0
            self.base_tokens = 0
            self.elapsed0 = 0.0
            self.t0 = time.time()

        def on_train_begin(self, args, state, control, **kw):
            if not _is_main():
                return
            old = read_log(log_path)
            # a killed run may have logged steps after its last checkpoint: they are redone
            keep = [r for r in old if r.get("step", 0) <= resumed_step]
            if len(keep) != len(old):
                _rewrite_jsonl(log_path, keep)
            if train_records(keep):
                self.base_tokens = train_records(keep)[-1].get("tokens", 0)
                self.elapsed0 = train_records(keep)[-1].get("elapsed_s", 0.0)
            self.t_last = self.t0 = time.time()

        def on_log(self, args, state, control, logs=None, **kw):
            if not _is_main() or not logs:
                return
            if "eval_loss" in logs:
                self._append({"step": state.global_step, "epoch": round(state.epoch or 0.0, 4),
                              "eval_loss": logs["eval_loss"],
                              "elapsed_s": round(self.elapsed0 + time.time() - self.t0, 2)})
                return
            if "loss" not in logs:
                return
            now = time.time()
            toks = counter.tokens * _world()
            rec = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4),
                   "loss": logs["loss"], "learning_rate": logs.get("learning_rate"),
                   "grad_norm": logs.get("grad_norm"), "tokens": self.base_tokens + toks,
                   "tokens_per_second": round((toks - self.tok_last) / max(now - self.t_last, 1e-9), 1),
                   "elapsed_s": round(self.elapsed0 + now - self.t0, 2)}
            self.t_last, self.tok_last = now, toks
            self._append(rec)
            # the trackers' callbacks come after this one and log what `logs` holds
            logs.update(tokens=rec["tokens"], tokens_per_second=rec["tokens_per_second"])

        def _append(self, rec):
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")

        def on_step_end(self, args, state, control, **kw):
            # the last step is always logged: a run shorter than logging_steps (or one ending
            # between two logging steps) would otherwise have no log, no curve, no final loss
            if state.max_steps and state.global_step >= state.max_steps:
                control.should_log = True

        def on_save(self, args, state, control, **kw):
            if _is_main():
                plot_loss(log_path, ckpt_dir / PLOT_NAME)

    class WallClock(TrainerCallback):
        """Checkpoint every ``save_minutes`` (as well as every ``save_steps``) and stop, with a
        checkpoint, after ``max_minutes``. Rank 0's clock decides for all ranks (broadcast), so
        that no rank waits forever in a collective the others skipped."""

        def __init__(self):
            self.t0 = self.t_save = time.time()
            self.stopped = False

        def on_save(self, args, state, control, **kw):
            self.t_save = time.time()

        def on_step_end(self, args, state, control, **kw):
            now = time.time()
            flags = torch.tensor([float(bool(opts.max_minutes) and now - self.t0 > opts.max_minutes * 60),
                                  float(bool(opts.save_minutes) and now - self.t_save > opts.save_minutes * 60)])
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                if torch.distributed.get_backend() == "nccl":
                    flags = flags.cuda()
                torch.distributed.broadcast(flags, src=0)
            stop, save = flags.tolist()
            if save:
                control.should_save = True
            if stop:
                # a warning, not news: the step budget was the plan, and a model cut short by the
                # clock depends on the machine's speed (docs/miniature.md, "Twelfth look")
                log.warning("time budget of %.1f min reached at step %d of %d: the model is cut "
                            "short of its planned steps (raise --max-minutes for the full run)",
                            opts.max_minutes, state.global_step, state.max_steps)
                self.stopped = True
                control.should_training_stop = True
                control.should_save = True
                control.should_log = True

    cbs = [JsonlLogger()]
    if opts.max_minutes or opts.save_minutes:
        cbs.append(WallClock())
    return cbs


def _rewrite_jsonl(path, rows) -> None:
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)


def train(opts: TrainOptions) -> Path:
    """Train and write the final model to ``opts.output_dir``; returns that path."""
    import torch
    # GPU ranks on a CUDA-less torch: stop before anything loads, never train on gloo unasked
    check_rank_device(torch.cuda.is_available())
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    # first: a kernel that would let packed documents see each other must not cost a queue wait
    attn_path = attention_path(opts.attn_implementation)
    trackers = parse_report_to(opts.report_to)  # a tracker that is not installed: before anything loads
    model_path = locate_model(opts.model, "--model")  # one line, not HFValidationError
    tok_path = locate_model(opts.tokenizer, "--tokenizer") if opts.tokenizer else model_path
    out_dir = Path(opts.output_dir)
    if out_dir.exists() and (out_dir / SUMMARY_NAME).is_file():
        raise FileExistsError(f"{out_dir}: a finished model is already there; remove it to retrain")
    ckpt_dir = Path(opts.checkpoint_dir or f"{out_dir}.checkpoints")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if opts.torch_threads:
        torch.set_num_threads(opts.torch_threads)
    if opts.deepspeed and not Path(opts.deepspeed).is_file():
        raise FileNotFoundError(f"{opts.deepspeed}: no such DeepSpeed config")

    cuda = torch.cuda.is_available()
    precision = resolve_precision(opts.precision, cuda)
    log.info("precision %s (asked: %s)", precision, opts.precision)
    if bool(opts.train_file) == bool(opts.train_data):
        raise ValueError("give exactly one of --train-file (JSONL) and --train-data (packed directory)")
    tok = AutoTokenizer.from_pretrained(tok_path)
    if opts.train_data:
        meta = read_meta(opts.train_data)
        if opts.seq_len and opts.seq_len != meta["seq_len"]:
            raise ValueError(f"--seq-len {opts.seq_len}, but {opts.train_data} was packed with "
                             f"--seq-len {meta['seq_len']}; pack it again or drop --seq-len")
        if meta["vocab_size"] != len(tok):
            raise ValueError(f"{opts.train_data}: packed with a tokenizer of {meta['vocab_size']} "
                             f"tokens ({meta['tokenizer']}), but this one has {len(tok)}")
    seq_len = opts.seq_len or (meta["seq_len"] if opts.train_data else 2048)

    warmup = opts.warmup_steps
    targs = TrainingArguments(
        output_dir=str(ckpt_dir), per_device_train_batch_size=opts.micro_batch,
        gradient_accumulation_steps=opts.grad_accum, learning_rate=opts.lr,
        lr_scheduler_type="cosine_with_min_lr" if opts.min_lr_ratio else "cosine",
        lr_scheduler_kwargs={"min_lr_rate": opts.min_lr_ratio} if opts.min_lr_ratio else {},
        **warmup_kwargs(warmup, opts.warmup_ratio),
        weight_decay=opts.weight_decay, max_grad_norm=opts.max_grad_norm,
        num_train_epochs=opts.num_epochs, max_steps=opts.max_steps,
        bf16=precision == "bf16", fp16=precision == "fp16",
        gradient_checkpointing=opts.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if opts.gradient_checkpointing else None,
        logging_steps=opts.logging_steps, save_strategy="steps", save_steps=opts.save_steps,
        save_total_limit=opts.save_total_limit, report_to=[], seed=opts.seed, data_seed=opts.seed,
        # validation: loss only (the logits of every held-out token would fill the memory)
        eval_strategy="steps" if opts.valid_size else "no", eval_steps=opts.eval_steps,
        per_device_eval_batch_size=opts.micro_batch, prediction_loss_only=True,
        deepspeed=opts.deepspeed, remove_unused_columns=False, dataloader_num_workers=0,
        use_cpu=not cuda,  # accelerate only counts CPU ranks (gloo) with use_cpu, DeepSpeed or not
        ddp_backend="gloo" if not cuda and _world() > 1 else None, disable_tqdm=False, optim="adamw_torch",
        save_only_model=False)
    # a resume must continue this run: refused (on every rank alike) when the checkpoints come from
    # another model, other data or other settings (spire.fingerprint), before the model loads
    fingerprint = training_fingerprint(opts, seq_len, _world(), model_path, tok_path)
    state = "new" if opts.fresh else check_resume(ckpt_dir, fingerprint, opts.adopt_checkpoints)
    with targs.main_process_first(local=False, desc="checkpoint fingerprint"):
        if _is_main():
            stale = start_run(ckpt_dir, fingerprint, opts.fresh, state)
            if stale:
                log.warning("--fresh: the previous run's checkpoints were moved to %s", stale)
    last = last_checkpoint(ckpt_dir)
    resumed_step = int(Path(last).name.split("-")[-1]) if last else 0
    if last:
        log.info("resuming from %s (step %d)", last, resumed_step)
    if opts.deepspeed and not cuda and _world() > 1:
        # on CPU accelerate starts torch.distributed itself (gloo) but not DeepSpeed's comm
        # layer, so ZeRO-3's zero.Init would see a world of 1 and reject the batch sizes
        import deepspeed
        deepspeed.init_distributed(dist_backend="gloo")
    # after TrainingArguments so that a ZeRO-3 config partitions the model as it loads
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype if opts.deepspeed else torch.float32,
                                                 attn_implementation=opts.attn_implementation)
    if len(tok) > model.config.vocab_size:  # config, not weight.shape: ZeRO-3 partitions weights
        if opts.deepspeed:
            raise ValueError(f"{opts.model}: {model.config.vocab_size} embedding rows < {len(tok)} "
                             "tokens; run tasks/extend_model.py first (no resizing under ZeRO)")
        from spire.model_ext import extend_model
        log.warning("tokenizer has %d tokens, model %d rows: resizing (mean init)",
                    len(tok), model.config.vocab_size)
        extend_model(model, len(tok), "mean")
    for k in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.config, k, getattr(tok, k))
        setattr(model.generation_config, k, getattr(tok, k))
    prepare_for_packing(model)

    data_dir = Path(opts.train_data) if opts.train_data else ckpt_dir / "packed"
    if opts.train_file:
        # packed once on the main process, beside the checkpoints: a resume reuses it
        with targs.main_process_first(local=False, desc="packing"):
            if _is_main():
                _pack_train_file(opts, tok, seq_len, data_dir)
    dataset = PackedRows(data_dir)
    stats = dataset.meta["stats"]
    if opts.train_data and not opts.packing and dataset.packed:
        raise ValueError(f"--no-packing with {data_dir}, which holds packed rows: pack it again "
                         "with tasks/pack_corpus.py --no-packing")
    log.info("corpus %s: %s", opts.train_file or data_dir, stats)
    held_out = split_rows(len(dataset), opts.valid_size, opts.seed)
    train_set = RowsExcept(dataset, held_out) if len(held_out) else dataset
    if len(held_out):
        import torch.utils.data
        eval_set = torch.utils.data.Subset(dataset, held_out.tolist())
        log.info("validation: %d of %d rows held out (seed %d), evaluated every %d steps",
                 len(held_out), len(dataset), opts.seed, opts.eval_steps)
    else:
        eval_set = None
    batch = global_batch(opts.micro_batch, opts.grad_accum, _world(), seq_len)
    log.info("global batch: %d sequences x %d tokens = %d tokens per optimizer step "
             "(micro-batch %d x accumulation %d x %d ranks); %d rows, %.2f epochs",
             batch["sequences"], seq_len, batch["tokens"], opts.micro_batch, opts.grad_accum,
             _world(), stats["rows"], opts.num_epochs)
    flatten = attn_path == "varlen" and dataset.packed
    if flatten:
        log.info("%s: each micro-batch of %d rows goes to the model as one flattened row of at "
                 "most %d tokens with the documents' cumulative lengths (cu_seq_lens), so the "
                 "varlen kernel keeps documents apart", opts.attn_implementation, opts.micro_batch,
                 opts.micro_batch * seq_len)
    counter = TokenCounter()
    callbacks = _callbacks(opts, ckpt_dir, counter, resumed_step)
    if eval_set is not None:
        callbacks.append(validation_callback(counter))
    callbacks += tracker_callbacks(trackers, ckpt_dir / RUNS_DIR, resumed_step, _is_main())
    trainer = Trainer(model=model, args=targs, train_dataset=train_set, eval_dataset=eval_set,
                      data_collator=Collator(tok.pad_token_id, counter, flatten=flatten), callbacks=callbacks)
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=last)
    wall = time.time() - t0
    stopped = any(getattr(cb, "stopped", False) for cb in callbacks)
    if stopped and opts.exit_incomplete_code and trainer.state.global_step < trainer.state.max_steps:
        # the cap's checkpoint is written (should_save): no final model, so the task is not done
        raise TrainingIncomplete(
            f"stopped by --max-minutes {opts.max_minutes:g} at step {trainer.state.global_step} of "
            f"{trainer.state.max_steps}; checkpoint in {ckpt_dir}: run the task again to resume",
            opts.exit_incomplete_code)

    # final model: every rank takes part (ZeRO-3 gathers the partitions), rank 0 writes
    tmp_out = out_dir.parent / f".{out_dir.name}.tmp-final"
    if _is_main() and tmp_out.exists():
        shutil.rmtree(tmp_out)
    trainer.model.config.use_cache = True  # for generation with the saved model
    trainer.save_model(str(tmp_out))
    if _is_main():
        tok.save_pretrained(str(tmp_out))
        plot_loss(ckpt_dir / LOG_NAME, ckpt_dir / PLOT_NAME)
        for name in (LOG_NAME, PLOT_NAME, FINGERPRINT_NAME):
            if (ckpt_dir / name).is_file():
                shutil.copy2(ckpt_dir / name, tmp_out / name)
        if (ckpt_dir / RUNS_DIR).is_dir():
            shutil.copytree(ckpt_dir / RUNS_DIR, tmp_out / RUNS_DIR)
        entries = read_log(ckpt_dir / LOG_NAME)
        validation = validation_summary(entries, len(held_out), opts.valid_size, opts.eval_steps)
        entries = train_records(entries)
        # planned_steps above global_step: the wall-clock cap stopped the run (a warning said so)
        summary = {"global_step": trainer.state.global_step, "planned_steps": trainer.state.max_steps,
                   "resumed_from_step": resumed_step,
                   "train_loss": result.training_loss, "wall_seconds_this_run": round(wall, 1),
                   "tokens": entries[-1]["tokens"] if entries else None,
                   "tokens_per_second_this_run": round(counter.tokens * _world() / max(wall, 1e-9), 1),
                   "world_size": _world(), "global_batch": batch, "precision": precision, "deepspeed": opts.deepspeed,
                   "engine": type(trainer.model_wrapped).__name__,
                   "zero_stage": (trainer.model_wrapped.zero_optimization_stage()
                                  if trainer.is_deepspeed_enabled else None),
                   "validation": validation,
                   "corpus": stats, "options": {k: v for k, v in vars(opts).items()}}
        write_json(tmp_out / SUMMARY_NAME, summary)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp_out, out_dir)
        if not opts.keep_checkpoints:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        log.info("final model: %s (step %d, %.0f tokens/s)", out_dir, trainer.state.global_step,
                 summary["tokens_per_second_this_run"])
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return out_dir

