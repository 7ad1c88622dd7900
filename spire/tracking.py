"""Watching and validating a training run of :mod:`spire.training`.

- **Trackers** (``--report-to``): TensorBoard event files by default, offline, in
  ``{checkpoint_dir}/runs`` while the run trains (watch it live) and ``{output_dir}/runs`` after;
  Weights & Biases or MLflow where installed. Every tracker gets the train log's scalars (loss,
  learning rate, grad norm, tokens, tokens/s) and the validation loss, through transformers' own
  callbacks (``TensorBoardCallback``, ``WandbCallback``, ``MLflowCallback``).
- **Validation** (``--valid-size``, ``--eval-steps``): a seeded share of the packed rows is held
  out, never trained on, and its loss is computed every ``eval_steps`` steps and at the last step,
  into the JSONL log (``{"step", "epoch", "eval_loss", "elapsed_s"}`` records), the loss curve and
  ``train_summary.json`` (``validation``: final and best loss).

The split is over packed rows (the unit the trainer reads), so it works the same for a corpus
packed at the first start and for a directory from tasks/pack_corpus.py, costs nothing at any
scale and is the same at every resume and on every rank (it depends only on the number of rows and
the seed). IT rows hold whole examples, so no example is split between the two sides; a CPT
document cut by a row boundary may have its other part on the training side (as nanoGPT's split of
one token stream), but no held-out token is ever trained on.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

RUNS_DIR = "runs"  # TensorBoard's logdir inside the checkpoint and the final model directories
# tracker -> the Python package it needs
TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
# how to install it: TensorBoard is pinned in requirements.txt (the newest needs a protobuf that
# COMET forbids), the others are the user's choice
INSTALL = {"tensorboard": "`make venv` installs requirements.txt's tensorboard==2.20.0",
           "wandb": "pip install wandb", "mlflow": "pip install mlflow"}


# --- trackers ----------------------------------------------------------------------------------

def parse_report_to(value: str | list | None) -> list[str]:
    """``"tensorboard"``, ``"tensorboard,wandb"`` (commas or spaces) or ``"none"`` → names, checked:
    an unknown tracker, or one whose package is not installed, is an error that says what to do."""
    names = value if isinstance(value, list) else str(value or "").replace(",", " ").split()
    names = [n for n in names if n != "none"]
    for name in names:
        if name not in TRACKERS:
            raise ValueError(f"--report-to {name!r}: choose among {', '.join(TRACKERS)} or none "
                             "(cpt_report_to / it_report_to in the workflow config)")
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise ValueError(f"--report-to {name}: the {TRACKERS[name]!r} package is not installed in "
                             f"this environment; install it ({INSTALL[name]}) or choose "
                             "another tracker, or none (cpt_report_to / it_report_to in the workflow "
                             "config)")
    return names


def tracker_callbacks(names: list[str], log_dir: Path, resumed_step: int, main: bool) -> list:
    """transformers' callbacks for the trackers ``names``. TensorBoard writes to ``log_dir`` (on the
    main process only); after a resume from step S, the events a killed run logged after S are
    hidden (``purge_step``), as the JSONL log drops them."""
    from transformers.integrations import MLflowCallback, TensorBoardCallback, WandbCallback
    cbs = []
    for name in names:
        if name == "tensorboard":
            if main:
                from torch.utils.tensorboard import SummaryWriter
                writer = SummaryWriter(str(log_dir), purge_step=resumed_step + 1 if resumed_step else None)
                cbs.append(TensorBoardCallback(tb_writer=writer))
        elif name == "wandb":
            cbs.append(WandbCallback())
        elif name == "mlflow":
            cbs.append(MLflowCallback())
    return cbs


def read_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of the TensorBoard event files under ``log_dir``: tag → [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def tensorboard_runs(out_dir) -> dict[str, Path]:
    """The TensorBoard logdirs of a workflow's output directory (``workflows/out``), one per
    realization of each training task: the final model's ``runs`` or, while it trains, the one in
    its checkpoint directory (``.resume/<task>/<realization>``, as the tapes place it). ducttape's
    full-name symlinks are skipped: TensorBoard follows links and would show every run twice."""
    out_dir = Path(out_dir)
    runs = {}
    for task_dir in sorted(p for p in out_dir.glob("Train*") if p.is_dir()):
        for real in sorted(task_dir.iterdir()):
            if real.is_symlink() or not real.is_dir():
                continue
            for cand in (real / "model" / RUNS_DIR, out_dir / ".resume" / task_dir.name / real.name / RUNS_DIR):
                if cand.is_dir():
                    runs[f"{task_dir.name}/{real.name}"] = cand
                    break
    return runs


def logdir_spec(runs: dict[str, Path]) -> str:
    """TensorBoard's ``--logdir_spec``: ``name:path`` pairs, so each run is shown by its name."""
    return ",".join(f"{name}:{Path(path).resolve()}" for name, path in runs.items())


def main(argv=None) -> int:
    """``python -m spire.tracking workflows/out``: the ``--logdir_spec`` of its training runs
    (``make tensorboard``)."""
    import argparse
    import sys
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("out_dir", help="a workflow's output directory, e.g. workflows/out")
    out_dir = ap.parse_args(argv).out_dir
    runs = tensorboard_runs(out_dir)
    if not runs:
        print(f"{out_dir}: no training run with TensorBoard event files yet (run `make demo`, or "
              "`make demo-train`, first)", file=sys.stderr)
        return 1
    print(logdir_spec(runs))
    return 0


# --- validation --------------------------------------------------------------------------------

def held_out_count(n_rows: int, valid_size: float) -> int:
    """Rows to hold out: ``valid_size`` < 1 is a share of the rows (at least one row), ≥ 1 a number
    of rows (as scikit-learn's ``test_size``); 0 holds out nothing."""
    if valid_size < 0 or (valid_size >= 1 and valid_size != int(valid_size)):
        raise ValueError(f"--valid-size {valid_size:g}: give a share of the rows (0 < x < 1), a "
                         "whole number of rows (>= 1) or 0 for no validation")
    if valid_size == 0:
        return 0
    k = max(1, round(n_rows * valid_size)) if valid_size < 1 else int(valid_size)
    if k >= n_rows:
        raise ValueError(f"--valid-size {valid_size:g}: {k} held-out rows of a corpus of {n_rows} "
                         "rows leave none to train on; lower it (cpt_valid_size / it_valid_size in "
                         "the workflow config)")
    return k


def split_rows(n_rows: int, valid_size: float, seed: int) -> np.ndarray:
    """The sorted indices of the held-out rows, drawn with ``seed``: the same for the same
    ``n_rows``, ``valid_size`` and ``seed``, whatever the machine or the number of ranks."""
    k = held_out_count(n_rows, valid_size)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=k, replace=False)).astype(np.int64)


class RowsExcept:
    """The rows of ``dataset`` without ``held_out`` (sorted indices), as a dataset: the ``j``-th
    training row is found by a binary search over the held-out ones, so nothing of the size of the
    corpus is built (a paper-scale corpus has millions of rows)."""

    def __init__(self, dataset, held_out: np.ndarray):
        self.dataset = dataset
        self.held_out = np.asarray(held_out, dtype=np.int64)
        # held_out[i] - i = the number of training rows before the i-th held-out row
        self._before = self.held_out - np.arange(len(self.held_out))

    def __len__(self) -> int:
        return len(self.dataset) - len(self.held_out)

    def index(self, j: int) -> int:
        """The corpus row of training row ``j``."""
        if not 0 <= j < len(self):
            raise IndexError(j)
        return int(j + np.searchsorted(self._before, j, side="right"))

    def __getitem__(self, j: int):
        return self.dataset[self.index(j)]


def eval_records(entries: list[dict]) -> list[dict]:
    return [r for r in entries if "eval_loss" in r]


def train_records(entries: list[dict]) -> list[dict]:
    return [r for r in entries if "loss" in r]


def validation_summary(entries: list[dict], rows: int, valid_size: float, eval_steps: int) -> dict | None:
    """``train_summary.json``'s ``validation``: the held-out rows and the final and best loss."""
    if not rows:
        return None
    evals = eval_records(entries)
    best = min(evals, key=lambda r: r["eval_loss"]) if evals else None
    return {"rows": rows, "valid_size": valid_size, "eval_steps": eval_steps,
            "evaluations": len(evals),
            "final_loss": evals[-1]["eval_loss"] if evals else None,
            "final_step": evals[-1]["step"] if evals else None,
            "best_loss": best["eval_loss"] if best else None,
            "best_step": best["step"] if best else None}


def validation_callback(counter):
    """Evaluate at the last step too (the final validation loss, whatever ``eval_steps``), and keep
    the held-out rows out of the train log's token count: the Trainer collates them with the
    training collator, which counts every token it hands out."""
    from transformers import TrainerCallback

    class Validation(TrainerCallback):
        def __init__(self):
            self.tokens = counter.tokens

        def on_step_end(self, args, state, control, **kw):
            self.tokens = counter.tokens
            # after the wall-clock callback, which may have just stopped the run
            if (state.max_steps and state.global_step >= state.max_steps) or control.should_training_stop:
                control.should_evaluate = True

        def on_evaluate(self, args, state, control, **kw):
            counter.tokens = self.tokens

    return Validation()


if __name__ == "__main__":
    raise SystemExit(main())
