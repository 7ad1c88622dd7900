"""Typed command-line values, checked where they are read, and a parser whose errors are one line.

The ``type=`` functions below (``positive_int``, ``positive_float``, ``fraction``...) turn a flag's
text into its value or raise :class:`argparse.ArgumentTypeError` saying what was wrong with it
(``'abc' is not a number``, ``-4 must be at least 1``). :class:`OptionParser` prints such an error
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


# ------------------------------------------------------------------ typed values
def _number(text, kind=float):
    """``text`` as an int or a finite float, or an ArgumentTypeError naming it."""
    try:
        value = kind(text)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_at_least(low: int):
    """An int ≥ ``low``."""
    def parse(text):
        value = _number(text, int)
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be at least {low}")
        return value
    parse.__name__ = f"int_at_least_{low}"
    return parse


positive_int = int_at_least(1)
nonneg_int = int_at_least(0)


def positive_float(text) -> float:
    """A finite float > 0 (a learning rate, a number of epochs, minutes)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be greater than 0")
    return value


def nonneg_float(text) -> float:
    """A finite float ≥ 0 (weight decay, a gradient norm where 0 turns clipping off)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be 0 or more")
    return value


def fraction(text) -> float:
    """A finite float in [0, 1] (a ratio of the learning rate or of the steps)."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value:g} must be between 0 and 1")
    return value


def steps_or_off(text) -> int:
    """An int ≥ 1, or -1 for "not set" (``--max-steps``: use the epochs)."""
    value = _number(text, int)
    if value != -1 and value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1 (or -1: not set)")
    return value


def port(text) -> int:
    value = _number(text, int)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1 to 65535)")
    return value


def exit_status(text) -> int:
    value = _number(text, int)
    if not 1 <= value <= 255:
        raise argparse.ArgumentTypeError(f"{value} is not a failing exit status (1 to 255)")
    return value


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
