"""The miniature's shipped models (spire/mini/shipped.py, tasks/shipped_model.py): installed only
when made from the workflow's inputs and settings and intact; every difference named."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spire.fingerprint import source_identity
from spire.mini.shipped import ShippedMismatch, install, record, ship

REPO = Path(__file__).resolve().parents[2]
PARAMS = {"lr": "1e-3", "epochs": "6", "seed": "42"}


def world(tmp: Path) -> dict[str, str]:
    (tmp / "text.en").write_text("the cat sat\n")
    (tmp / "train.txt").write_text("a dog ran\n")
    return {"text_en": str(tmp / "text.en"), "train_text": str(tmp / "train.txt")}


def trained(tmp: Path, inputs) -> Path:
    model = tmp / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (model / "config.json").write_text('{"hidden_size": 192}')
    (model / "runs").mkdir()
    (model / "runs" / "events.out").write_text("tensorboard")
    record(model, inputs, PARAMS, "TrainMiniBase")
    return model


def test_a_matching_model_is_installed_without_its_tensorboard_runs(tmp_path):
    inputs = world(tmp_path)
    shipped = tmp_path / "world" / "base_lm"
    ship(trained(tmp_path, inputs), shipped)
    assert not (shipped / "runs").exists() and (shipped / "world.json").is_file()
    out = tmp_path / "out" / "model"
    out.parent.mkdir()
    install(shipped, out, inputs, PARAMS, "`make mini-world`")
    assert (out / "model.safetensors").read_bytes() == (shipped / "model.safetensors").read_bytes()
    # world.json is bookkeeping: the installed model's identity is that of its weights and config
    assert source_identity(str(out))["files"] == 2


def test_another_world_or_setting_is_refused_naming_each_difference(tmp_path):
    inputs = world(tmp_path)
    shipped = tmp_path / "shipped"
    ship(trained(tmp_path, inputs), shipped)
    (tmp_path / "train.txt").write_text("a dog ran away\n")  # the world's sentences changed
    with pytest.raises(ShippedMismatch) as e:
        install(shipped, tmp_path / "out", inputs, {**PARAMS, "epochs": "8"}, "`make mini-world`")
    msg = str(e.value)
    assert "train_text: content" in msg and "epochs: 6 (shipped) → 8 (this workflow)" in msg
    assert "text_en" not in msg and "lr" not in msg  # only what differs
    assert "make mini-world" in msg and "$model@TrainMiniBase" in msg
    assert not (tmp_path / "out").exists()  # nothing installed


def test_damaged_weights_are_refused(tmp_path):
    inputs = world(tmp_path)
    shipped = tmp_path / "shipped"
    ship(trained(tmp_path, inputs), shipped)
    # what a clone without Git LFS would hold instead of the weights
    (shipped / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(ShippedMismatch, match="the shipped files themselves"):
        install(shipped, tmp_path / "out", inputs, PARAMS, "`make mini-world`")


def test_a_model_without_provenance_is_refused(tmp_path):
    inputs = world(tmp_path)
    shipped = trained(tmp_path, inputs)
    (shipped / "world.json").unlink()
    with pytest.raises(ShippedMismatch, match="world.json is missing"):
        install(shipped, tmp_path / "out", inputs, PARAMS, "`make mini-world`")
    with pytest.raises(ShippedMismatch, match="no shipped model there"):
        install(tmp_path / "nowhere", tmp_path / "out", inputs, PARAMS, "`make mini-world`")


def test_the_task_script_exits_2_with_the_differences(tmp_path):
    inputs = world(tmp_path)
    shipped = tmp_path / "shipped"
    ship(trained(tmp_path, inputs), shipped)
    args = [sys.executable, str(REPO / "tasks" / "shipped_model.py"), "install", "--shipped", str(shipped),
            "--out", str(tmp_path / "out"), *(f"--input={k}={v}" for k, v in inputs.items()),
            "--param=lr=2e-3", "--param=epochs=6", "--param=seed=42"]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "lr: 1e-3 (shipped) → 2e-3 (this workflow)" in proc.stderr and "Traceback" not in proc.stderr
    args[-3] = "--param=lr=1e-3"
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out" / "world.json").read_text())["params"]["lr"] == "1e-3"
