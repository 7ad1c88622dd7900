"""Watching and validating a training run (spire/tracking.py, its hooks in spire/training.py)."""
import json
import math

import numpy as np
import pytest

from spire.tracking import (RowsExcept, held_out_count, parse_report_to, read_scalars, split_rows,
                            tensorboard_runs)
from tests.spire.lm_fixtures import base_tok_dir, inst_tok_dir, run_task, toy_sentences  # noqa: F401


def test_held_out_rows_are_seeded_and_never_trained_on():
    held = split_rows(1000, 0.05, seed=42)
    assert len(held) == 50 and np.array_equal(held, split_rows(1000, 0.05, seed=42))
    assert not np.array_equal(held, split_rows(1000, 0.05, seed=43))
    train = RowsExcept(list(range(1000)), held)
    seen = [train[j] for j in range(len(train))]
    # the training side is exactly every other row, each once, in corpus order
    assert len(seen) == 950 and not set(seen) & set(held.tolist())
    assert sorted(set(seen) | set(held.tolist())) == list(range(1000)) and seen == sorted(seen)
    with pytest.raises(IndexError):
        train[950]
    assert len(split_rows(1000, 16, seed=1)) == 16  # a number of rows
    assert len(split_rows(1000, 0, seed=1)) == 0


def test_bad_valid_size_and_tracker_name_what_to_change():
    assert held_out_count(10, 0.01) == 1  # a share of a tiny corpus still holds one row out
    with pytest.raises(ValueError, match="leave none to train on.*cpt_valid_size"):
        held_out_count(4, 4)
    with pytest.raises(ValueError, match="whole number of rows"):
        held_out_count(100, 2.5)
    assert parse_report_to("none") == [] and parse_report_to("") == []
    with pytest.raises(ValueError, match="'tensorbored'.*choose among tensorboard, wandb, mlflow"):
        parse_report_to("tensorbored")


def test_a_tracker_that_is_not_installed_is_a_clear_error(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    assert parse_report_to("tensorboard") == ["tensorboard"]
    with pytest.raises(ValueError, match="'wandb' package is not installed.*pip install wandb"):
        parse_report_to("tensorboard,wandb")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ValueError, match="'tensorboard' package is not installed.*make venv"):
        parse_report_to("tensorboard")


def test_tensorboard_runs_of_a_workflow_skip_full_name_links(tmp_path):
    out = tmp_path / "out"
    (out / "TrainCPT" / "Baseline.baseline" / "model" / "runs").mkdir(parents=True)
    (out / "TrainCPT" / "Seed.42").symlink_to("Baseline.baseline")
    (out / "TrainIT" / "Baseline.baseline").mkdir(parents=True)  # still training: its live logdir
    (out / ".resume" / "TrainIT" / "Baseline.baseline" / "runs").mkdir(parents=True)
    assert tensorboard_runs(out) == {
        "TrainCPT/Baseline.baseline": out / "TrainCPT" / "Baseline.baseline" / "model" / "runs",
        "TrainIT/Baseline.baseline": out / ".resume" / "TrainIT" / "Baseline.baseline" / "runs"}


@pytest.fixture(scope="module")
def init_model(inst_tok_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("init") / "m"
    run_task("init_llama.py", "--tokenizer", inst_tok_dir, "--preset", "tiny", "--out", out)
    return out


def test_smoke_run_has_tensorboard_events_and_a_validation_loss(init_model, tmp_path):
    cpt = tmp_path / "cpt.jsonl"
    cpt.write_text("".join(json.dumps({"text": s}) + "\n" for s in toy_sentences(400, seed=2)))
    out = tmp_path / "out"
    run_task("train_lm.py", "--model", init_model, "--train-file", cpt, "--output-dir", out,
             "--num-epochs", 1, "--seq-len", 64, "--micro-batch", 8, "--lr", 3e-3,
             "--logging-steps", 2, "--torch-threads", 1, "--valid-size", 10, "--eval-steps", 4)
    summary = json.loads((out / "train_summary.json").read_text())
    rows, val = summary["corpus"]["rows"], summary["validation"]
    # one epoch is the rows left after the held-out ones: they are never trained on
    assert summary["global_step"] == math.ceil((rows - 10) / 8) < math.ceil(rows / 8)
    last = summary["global_step"]
    evals = [s for s in range(4, last + 1, 4)] + ([last] if last % 4 else [])
    assert val["rows"] == 10 and val["evaluations"] == len(evals) and val["final_step"] == last
    assert val["best_loss"] <= val["final_loss"] and val["final_loss"] > 0
    log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "eval_loss" in r] == evals
    assert log[-1]["eval_loss"] == val["final_loss"]
    # the held-out rows the evaluation collates are not counted as trained-on tokens
    assert summary["tokens"] <= (rows - 10) * 64
    scalars = read_scalars(out / "runs")
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "train/tokens_per_second",
            "eval/loss"} <= set(scalars)
    assert [s for s, _ in scalars["eval/loss"]] == evals
    assert scalars["eval/loss"][-1][1] == pytest.approx(val["final_loss"], rel=1e-5)
    assert (out / "loss.png").stat().st_size > 1000


@pytest.mark.parametrize("tape,name,stage", [("cpt.tape", "TrainCPT", "cpt"), ("it.tape", "TrainIT", "it")])
def test_every_workflow_training_run_reports_and_validates(tmp_path, tape, name, stage):
    """TrainCPT/TrainIT pass <stage>_report_to/_valid_size/_eval_steps to the trainer, and every
    config sets them: TensorBoard and a held-out share for every run of the workflows."""
    from tests.workflows.test_train_launch_tape import REPO, run_body, task_def, tconf_values
    task = task_def(tape, name)
    wired = {s.name: s.value.name for s in task.params if type(s.value).__name__ == "VarRef"}
    for opt in ("report_to", "valid_size", "eval_steps"):
        assert wired[opt] == f"{stage}_{opt}"
    argv = run_body(tmp_path, task, nodes=1, cpus="", time="", gpus_per_node=0, minutes=45,
                    deepspeed="", report_to="tensorboard", valid_size=16, eval_steps=200)["python"]
    for flag, value in (("--report-to", "tensorboard"), ("--valid-size", "16"), ("--eval-steps", "200")):
        assert argv[argv.index(flag) + 1] == value
    for conf in ("mini", "paper", "rehearsal"):
        values = tconf_values(REPO / "configs" / f"{conf}.tconf")
        assert values[f"{stage}_report_to"] == "tensorboard", conf
        assert float(values[f"{stage}_valid_size"]) > 0 and int(values[f"{stage}_eval_steps"]) > 0, conf
