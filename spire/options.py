"""Typed command-line values, checked where they are read, and a parser whose errors are one line.

The ``type=`` values below (:class:`Number`: ``positive_int``, ``positive_float``, ``fraction``...)
turn a flag's text into its value or raise :class:`argparse.ArgumentTypeError` saying what was
wrong with it (``'abc' is not a number > 0``, ``'-4' is not a whole number >= 1``); where a tape
fills the flag from the tconf, ``Number.from_tconf("kmeans_clusters")`` names the variable too.
A bad value should stop a task before any work, not as a library's traceback minutes later or,
worse, a run that quietly does something else (``--max-lines -1`` dropping the last line). :class:`OptionParser` prints such an error
as one line, ``prog: --flag 'abc' is not a number; set it_epochs in your tconf``, instead of the
usage dump argparse gives, because a task script's flags come from a tconf through a tape, and the
user's fix is in the tconf, not on a command line they never typed (``hints``: flag → where its
value comes from).

The tconf variable that feeds a trainer flag depends on the task (TrainCPT: ``cpt_lr``, TrainIT:
``it_lr``); ducttape exports the task's name as ``$TASK`` (ducttape/execute.py), which
:func:`tconf_hints` reads.
"""
from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path


# ------------------------------------------------------------------ typed values
@dataclass(frozen=True)
class Number:
    """An argparse ``type=``: a number of ``kind`` within ``[low, high]`` (``low`` excluded when
    ``open_low``). ``tconf``: the workflow variable that fills the option, named in the error."""
    kind: type
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    tconf: str | None = None

    @property
    def __name__(self) -> str:  # argparse names the type in some messages
        return self.describe()

    def describe(self) -> str:
        what = "a whole number" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            if self.open_low:
                return f"{what} > {self.low:g} and <= {self.high:g}"
            return f"{what} from {self.low:g} to {self.high:g}"
        if self.low is not None:
            return f"{what} {'>' if self.open_low else '>='} {self.low:g}"
        return what

    def from_tconf(self, variable: str) -> "Number":
        return replace(self, tconf=variable)

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            value = None
        ok = value is not None and math.isfinite(value) and \
            (self.low is None or value > self.low or (value == self.low and not self.open_low)) and \
            (self.high is None or value <= self.high)
        if not ok:
            where = f" (set by the tconf variable {self.tconf}: fix it in your config)" if self.tconf else ""
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.describe()}{where}")
        return value


positive_int = Number(int, low=1)
nonneg_int = Number(int, low=0)
positive_float = Number(float, low=0, open_low=True)   # a learning rate, epochs, minutes
nonneg_float = Number(float, low=0)                    # weight decay; 0 turns clipping off
fraction = Number(float, low=0, high=1)                # a share of the rows, of the steps
port = Number(int, low=1, high=65535)
exit_status = Number(int, low=1, high=255)             # a failing exit status


def int_at_least(low: int) -> Number:
    return Number(int, low=low)


def steps_or_off(text) -> int:
    """An int >= 1, or -1 for "not set" (``--max-steps``: use the epochs)."""
    if str(text).strip() == "-1":
        return -1
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1 (or -1: not set)") from None



# ------------------------------------------------------------------ one-line errors
class OptionParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the flag, its value's problem and
    ``hints[flag]`` (where the value comes from), without the usage dump."""

    def __init__(self, *args, hints: dict[str, str] | None = None, **kw):
        super().__init__(*args, **kw)
        self.hints = dict(hints or {})

    def error(self, message: str):
        m = re.match(r"argument (\S+?)(?:/\S+)?: (.*)", message, re.S)
        if m:
            flag, problem = m.groups()
            hint = self.hints.get(flag)
            message = f"{flag} {problem}" + (f"; {hint}" if hint else "")
        else:
            message = f"{message} (see {self.prog} --help)"
        self.exit(2, f"{self.prog}: {message}\n")


# flag → the task variable's suffix in the tconf (``it_`` or ``cpt_`` before it), as the TrainCPT
# and TrainIT tasks of workflows/cpt.tape and workflows/it.tape pass them
TRAIN_TCONF = {"--lr": "lr", "--min-lr-ratio": "min_lr_ratio", "--warmup-steps": "warmup",
               "--weight-decay": "weight_decay", "--micro-batch": "micro_batch",
               "--grad-accum": "grad_accum", "--num-epochs": "epochs", "--precision": "precision",
               "--gradient-checkpointing": "gradient_checkpointing", "--max-minutes": "minutes",
               "--save-minutes": "save_minutes", "--deepspeed": "deepspeed",
               "--gpus-per-node": "gpus_per_node", "--nodes": "nodes", "--job-time": "time",
               "--valid-size": "valid_size", "--eval-steps": "eval_steps", "--report-to": "report_to"}
# the same variable whatever the task
SHARED_TCONF = {"--seed": "recipe_seed", "--attn-implementation": "train_attn_implementation"}
TASK_PREFIX = {"TrainCPT": "cpt", "TrainIT": "it"}
# workflows/mini_world.tape's TrainMiniBase calls train_lm.py with its own variables
MINI_BASE_TCONF = {"--lr": "mini_base_lr", "--num-epochs": "mini_base_epochs",
                   "--seq-len": "mini_seq_len", "--micro-batch": "mini_micro_batch",
                   "--max-minutes": "mini_base_minutes", "--torch-threads": "mini_base_threads"}


def tconf_hints(env=None) -> dict[str, str]:
    """flag → "set VAR in your tconf" for the training flags a tape fills from the tconf, after
    ducttape's ``$TASK``; run by hand (no ``$TASK``), both TrainIT's and TrainCPT's are named; in
    another task, none (its variables are not known here)."""
    env = os.environ if env is None else env
    task = env.get("TASK", "")
    if task == "TrainMiniBase":
        return {flag: f"set {var} in your tconf" for flag, var in MINI_BASE_TCONF.items()}
    if task and task not in TASK_PREFIX:
        return {}
    prefix = TASK_PREFIX.get(task)
    hints = {}
    for flag, var in TRAIN_TCONF.items():
        names = f"{prefix}_{var}" if prefix else f"it_{var} or cpt_{var}"
        hints[flag] = f"set {names} in your tconf"
    for flag, var in SHARED_TCONF.items():
        hints[flag] = f"set {var} in your tconf"
    return hints


# ------------------------------------------------------------------ paths
def looks_like_path(value: str) -> bool:
    """A local path rather than a hub id (``org/name``): absolute, relative with ./ or ../, ~, or
    with more than one slash."""
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or os.sep != "/" and os.sep in value


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "sp.model")


def tokenizer_source(value: str, flag: str) -> str:
    """``value`` as given, once it is a directory holding a tokenizer or a hub id: a path that
    does not exist, or a folder without tokenizer files, is an error naming ``flag``."""
    p = Path(value).expanduser()
    if p.is_dir():
        if not any((p / n).is_file() for n in TOKENIZER_FILES):
            raise SystemExit(f"{flag} {value}: no tokenizer in this directory (none of "
                             f"{list(TOKENIZER_FILES)}); give a save_pretrained tokenizer or model folder")
        return value
    if p.exists():
        raise SystemExit(f"{flag} {value}: a file, not a tokenizer directory")
    if looks_like_path(value):
        raise SystemExit(f"{flag} {value}: no such directory (a local path; a hub id is ORG/NAME)")
    return value
