"""Checkpoints know where they came from (spire/fingerprint.py) and every value the trainer, the
launcher and the packer read is checked where it is read (spire/options.py): issue 31."""
import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from spire import fingerprint as fp
from spire.packing import pack_chunks, pack_examples, unpacked_rows
from tests.spire.lm_fixtures import REPO


def _opts(tmp_path, **over):
    """A trainer's parsed options over a fake model (config + weights) and a JSONL corpus."""
    model = tmp_path / "model"
    if not model.exists():
        model.mkdir()
        (model / "config.json").write_text('{"model_type": "llama"}')
        (model / "model.safetensors").write_bytes(os.urandom(3000))
        (tmp_path / "data.jsonl").write_text('{"text": "a b"}\n')
    base = dict(model=str(model), tokenizer=None, train_file=str(tmp_path / "data.jsonl"),
                train_data=None, output_dir=str(tmp_path / "out"), checkpoint_dir=str(tmp_path / "ckpt"),
                seq_len=64, packing=True, micro_batch=8, grad_accum=1, lr=2e-3, min_lr_ratio=0.0,
                warmup_steps=0, warmup_ratio=0.0, weight_decay=0.0, max_grad_norm=1.0,
                num_epochs=1.0, max_steps=-1, seed=42, precision="auto", deepspeed=None,
                max_examples=None, fresh=False, adopt_checkpoints=False, max_minutes=None,
                logging_steps=10, save_steps=500, torch_threads=None, valid_size=0.0,
                report_to="tensorboard", eval_steps=200)
    base.update(over)
    return Namespace(**base)


def _fingerprint(opts, world=1):
    return fp.training_fingerprint(opts, opts.seq_len, world)


def _checkpoint(ckpt: Path, step=5):
    (ckpt / f"checkpoint-{step}").mkdir(parents=True)
    (ckpt / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")


# ------------------------------------------------------------------ the fingerprint
def test_fingerprint_changes_with_what_changes_the_result_only(tmp_path):
    base = _fingerprint(_opts(tmp_path))
    assert fp.differences(base, _fingerprint(_opts(tmp_path))) == []
    # settings that do not change what is learned are not in it
    same = _opts(tmp_path, logging_steps=1, save_steps=3, max_minutes=5.0, torch_threads=2,
                 output_dir="/elsewhere", checkpoint_dir="/elsewhere.ckpt", report_to="none",
                 eval_steps=7)
    assert fp.differences(base, _fingerprint(same)) == []
    assert fp.differences(base, _fingerprint(_opts(tmp_path, lr=0.0))) == ["lr: 0.002 → 0.0"]
    assert fp.differences(base, _fingerprint(_opts(tmp_path, grad_accum=4, seed=1))) == [
        "grad_accum: 1 → 4", "seed: 42 → 1"]
    assert fp.differences(base, _fingerprint(_opts(tmp_path), world=8)) == ["world_size: 1 → 8"]
    # another held-out share trains on other rows
    assert fp.differences(base, _fingerprint(_opts(tmp_path, valid_size=16.0))) == ["valid_size: 0.0 → 16.0"]


def test_fingerprint_sees_new_weights_and_data_at_the_same_path(tmp_path):
    opts = _opts(tmp_path)
    base = _fingerprint(opts)
    (tmp_path / "model" / "model.safetensors").write_bytes(os.urandom(3000))  # retrained, same size
    [d] = fp.differences(base, _fingerprint(opts))
    assert d.startswith(f"model: {tmp_path / 'model'} (2 files, ")
    (tmp_path / "data.jsonl").write_text('{"text": "a c"}\n')
    assert [d.split(":")[0] for d in fp.differences(base, _fingerprint(opts))] == ["model", "data"]


def test_file_identity_samples_big_files_and_ignores_timestamps(tmp_path, monkeypatch):
    monkeypatch.setattr(fp, "CHUNK", 16)
    f = tmp_path / "shard.bin"
    f.write_bytes(bytes(range(256)) * 4)  # 1 KiB: above SAMPLES chunks, so sampled
    first = fp.file_identity(f)
    os.utime(f, (0, 0))                   # a copy without -t: same bytes, other mtime
    assert fp.file_identity(f) == first
    data = bytearray(f.read_bytes())
    data[-1] ^= 1                         # the end is always read
    f.write_bytes(bytes(data))
    assert fp.file_identity(f) != first
    # a packed directory packed again: the same rows, another pack_seconds, the same data
    d = tmp_path / "packed"
    d.mkdir()
    (d / "meta.json").write_text(json.dumps({"seq_len": 64, "stats": {"pack_seconds": 1.5}}))
    one = fp.source_identity(d)
    (d / "meta.json").write_text(json.dumps({"seq_len": 64, "stats": {"pack_seconds": 9.0}}))
    assert fp.source_identity(d)["digest"] == one["digest"]
    (d / "meta.json").write_text(json.dumps({"seq_len": 128, "stats": {"pack_seconds": 9.0}}))
    assert fp.source_identity(d)["digest"] != one["digest"]


# ------------------------------------------------------------------ resuming
def test_resume_with_other_settings_is_refused_naming_each(tmp_path):
    opts = _opts(tmp_path, lr=0.0)
    ckpt = Path(opts.checkpoint_dir)
    assert fp.check_resume(ckpt, _fingerprint(opts)) == "new"  # nothing to resume yet
    fp.start_run(ckpt, _fingerprint(opts))
    _checkpoint(ckpt, 108)
    assert fp.check_resume(ckpt, _fingerprint(opts)) == "same"
    with pytest.raises(fp.ResumeRefused) as e:
        fp.check_resume(ckpt, _fingerprint(_opts(tmp_path, lr=2e-3, num_epochs=2.0)), env={})
    msg = str(e.value)
    assert "  lr: 0.0 → 0.002\n" in msg and "  num_epochs: 1.0 → 2.0\n" in msg
    assert "--fresh" in msg and "invalidate TASK REALIZATION" in msg and str(ckpt) in msg
    assert "up to checkpoint-108" in msg


def test_fresh_moves_the_old_run_aside_and_records_the_new_one(tmp_path):
    old, new = _opts(tmp_path, lr=0.0), _opts(tmp_path)
    ckpt = Path(old.checkpoint_dir)
    fp.start_run(ckpt, _fingerprint(old))
    _checkpoint(ckpt)
    stale = fp.start_run(ckpt, _fingerprint(new), fresh=True)
    assert stale.name.startswith("ckpt.stale-") and (stale / "checkpoint-5").is_dir()
    assert json.loads((stale / fp.FINGERPRINT_NAME).read_text())["options"]["lr"] == 0.0
    assert fp.has_checkpoints(ckpt) == []  # nothing deleted, nothing left to resume
    assert json.loads((ckpt / fp.FINGERPRINT_NAME).read_text())["options"]["lr"] == 2e-3


def test_checkpoints_without_a_fingerprint_are_refused_unless_adopted(tmp_path):
    opts = _opts(tmp_path)
    ckpt = Path(opts.checkpoint_dir)
    _checkpoint(ckpt)  # an older trainer's: no fingerprint.json
    with pytest.raises(fp.ResumeRefused, match=r"checkpoint-5 but no fingerprint.json .*--adopt-checkpoints"):
        fp.check_resume(ckpt, _fingerprint(opts))
    assert fp.check_resume(ckpt, _fingerprint(opts), adopt=True) == "adopt"
    fp.start_run(ckpt, _fingerprint(opts), state="adopt")
    assert fp.check_resume(ckpt, _fingerprint(opts)) == "same"
    # adopting is for the unknown: a recorded fingerprint that differs is still refused
    with pytest.raises(fp.ResumeRefused, match="lr: 0.002 → 0.001"):
        fp.check_resume(ckpt, _fingerprint(_opts(tmp_path, lr=1e-3)), adopt=True)


# ------------------------------------------------------------------ models that are not there
def test_missing_model_is_one_line_naming_the_path(tmp_path):
    with pytest.raises(fp.ModelNotFound, match=r"^--model /nonexistent: no such directory"):
        fp.locate_model("/nonexistent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(fp.ModelNotFound, match="this directory holds no model"):
        fp.locate_model(str(empty), "--tokenizer")
    env = {"HF_HUB_OFFLINE": "1"}
    with pytest.raises(fp.ModelNotFound, match=r"nobody/no-such-model: .*not in the offline Hugging "
                                               r"Face cache.*huggingface-cli download nobody/no-such-model"):
        fp.locate_model("nobody/no-such-model", env=env)
    assert fp.locate_model(str(_opts(tmp_path).model)) == str(tmp_path / "model")


def _train_lm(*args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TASK": "TrainIT", **(env_extra or {})}
    return subprocess.run([sys.executable, str(REPO / "tasks" / "train_lm.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_train_lm_with_a_missing_model_says_so_in_one_line(tmp_path):
    for model, env, says in [("/nonexistent", {}, "--model /nonexistent: no such directory"),
                             ("nobody/no-such-model", {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
                              "--model nobody/no-such-model: no such directory, not in $SPIRE_MIRROR")]:
        p = _train_lm("--model", model, "--train-file", tmp_path / "x.jsonl", "--output-dir",
                      tmp_path / "o", env_extra=env)
        assert p.returncode == 2, p.stderr
        assert says in p.stderr and "Traceback" not in p.stderr and "HFValidationError" not in p.stderr


# ------------------------------------------------------------------ values checked where read
@pytest.mark.parametrize("flag, value, says", [
    ("--num-epochs", "abc", "--num-epochs 'abc' is not a number > 0; set it_epochs in your tconf"),
    ("--micro-batch", "-4", "--micro-batch '-4' is not a whole number >= 1; set it_micro_batch in your tconf"),
    ("--lr", "0", "--lr '0' is not a number > 0; set it_lr in your tconf"),
    ("--lr", "nan", "--lr 'nan' is not a number > 0; set it_lr in your tconf"),
    ("--grad-accum", "0", "--grad-accum '0' is not a whole number >= 1; set it_grad_accum in your tconf"),
    ("--warmup-steps", "-1", "--warmup-steps '-1' is not a whole number >= 0; set it_warmup in your tconf"),
    ("--warmup-ratio", "1.5", "--warmup-ratio '1.5' is not a number from 0 to 1"),
    ("--min-lr-ratio", "2", "--min-lr-ratio '2' is not a number from 0 to 1; set it_min_lr_ratio in your tconf"),
    ("--weight-decay", "-0.1", "--weight-decay '-0.1' is not a number >= 0; set it_weight_decay in your tconf"),
    ("--seq-len", "0", "--seq-len '0' is not a whole number >= 2"),
    ("--max-steps", "0", "--max-steps '0' is not a whole number >= 1 (or -1: not set)"),
    ("--save-minutes", "-1", "--save-minutes '-1' is not a number > 0; set it_save_minutes in your tconf"),
    ("--seed", "x", "--seed 'x' is not a whole number >= 0; set recipe_seed in your tconf"),
])
def test_bad_training_values_are_one_line_before_anything_loads(tmp_path, flag, value, says):
    # the model does not exist: the value is refused first, before any model is looked at
    p = _train_lm("--model", "/nonexistent", "--train-file", tmp_path / "x.jsonl",
                  "--output-dir", tmp_path / "o", flag, value)
    assert p.returncode == 2
    assert p.stderr == f"train_lm.py: {says}\n"  # one line: no usage dump, no traceback


def test_the_tconf_variable_follows_the_task(tmp_path):
    args = ["--model", "m", "--train-file", "x", "--output-dir", "o", "--lr", "-1"]
    assert "set cpt_lr in your tconf" in _train_lm(*args, env_extra={"TASK": "TrainCPT"}).stderr
    p = subprocess.run([sys.executable, str(REPO / "tasks" / "train_lm.py"), *args], capture_output=True,
                       text=True, env={k: v for k, v in os.environ.items() if k != "TASK"}, timeout=60)
    assert "set it_lr or cpt_lr in your tconf" in p.stderr
    assert "set mini_base_lr in your tconf" in _train_lm(*args, env_extra={"TASK": "TrainMiniBase"}).stderr
    p = _train_lm(*args, env_extra={"TASK": "SomeOtherTask"})  # variables unknown: no guess
    assert p.stderr == "train_lm.py: --lr '-1' is not a number > 0\n"


def test_yaml_config_values_are_checked_like_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lr: 0\nmicro_batch: 4\n")
    p = _train_lm("--model", "/nonexistent", "--train-file", "x", "--output-dir", "o", "--config", cfg)
    assert p.returncode == 2 and "--lr '0' is not a number > 0" in p.stderr


def test_packing_refuses_rows_of_no_tokens():
    docs, ex = [[1, 5, 6, 2]], [([1, 5, 2], [1, 5, 2])]
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="--seq-len .*at least 1"):
            pack_chunks(docs, bad)
        with pytest.raises(ValueError, match="--seq-len .*at least 1"):
            pack_examples(ex, bad)
        with pytest.raises(ValueError, match="--seq-len .*at least 1"):
            unpacked_rows(ex, bad)


def test_a_model_card_or_tensorboard_events_added_later_do_not_change_a_models_identity(tmp_path):
    """`make results` rewrites README.md (the model card) in every model directory and the
    trainer copies runs/ there: a later stage resuming from that model must not be refused."""
    from spire.fingerprint import source_identity as location_identity

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 8}')
    (model / "model.safetensors").write_bytes(b"weights")
    before = location_identity(model)
    (model / "README.md").write_text("---\nlicense: mit\n---\nscores: 12.3\n")
    (model / "runs").mkdir()
    (model / "runs" / "events.out.tfevents.1").write_bytes(b"x")
    assert location_identity(model) == before
    (model / "model.safetensors").write_bytes(b"other weights")
    assert location_identity(model) != before
