import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from spire.packing import Collator, pack_chunks, pack_examples, prepare_for_packing, tokenize_conversations
from spire.training import read_corpus
from spire.units import units_to_text
from tests.spire.lm_fixtures import (REPO, base_tok_dir, inst_tok_dir, run_task, tiny_llama,  # noqa: F401
                                     toy_sentences)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_examples_never_attend_to_each_other(base_tok_dir, attn):
    tok = AutoTokenizer.from_pretrained(base_tok_dir)
    model = tiny_llama(tok, seed=1)
    model.config._attn_implementation = attn
    model.train()  # the trainer's mode (no dropout in Llama, so outputs are deterministic)
    docs = [tok("<s>" + s, add_special_tokens=False)["input_ids"] for s in toy_sentences(3, seed=9)]
    rows = pack_chunks(docs, sum(map(len, docs)) + 3)  # one row, 3 documents
    assert len(rows) == 1
    batch = Collator(tok.pad_token_id)([rows[0], {**rows[0]}])
    assert "attention_mask" not in batch
    with torch.no_grad():
        # the pitfall prepare_for_packing avoids: with the KV cache on, the mask ignores resets
        leaky = model(**batch).logits[0]
        prepare_for_packing(model)
        packed = model(**batch).logits[0]  # exactly what the Trainer calls
        naive = model(input_ids=batch["input_ids"]).logits[0]  # no resets: documents see each other
        start = 0
        for d in docs:
            alone = model(input_ids=torch.tensor([d])).logits[0]
            torch.testing.assert_close(packed[start:start + len(d)], alone, atol=1e-5, rtol=1e-4)
            if start:
                assert not torch.allclose(naive[start:start + len(d)], alone, atol=1e-3)
                assert not torch.allclose(leaky[start:start + len(d)], alone, atol=1e-3)
            start += len(d)


def test_pack_chunks_positions_and_labels():
    docs = [[1, 5, 6, 2], [1, 7, 2], [1, 8, 9, 10, 11, 12, 2]]
    rows = pack_chunks(docs, 5)
    assert [t for r in rows for t in r["input_ids"]] == [t for d in docs for t in d]
    assert rows[0]["position_ids"] == [0, 1, 2, 3, 0]
    assert rows[1]["position_ids"] == [0, 1, 0, 1, 2]  # cut document restarts at 0
    assert rows[0]["labels"] == [-100, 5, 6, 2, -100]  # no prediction across documents


def test_pack_examples_keeps_whole_examples():
    ex = [(list(range(10 * i, 10 * i + n)), list(range(10 * i, 10 * i + n))) for i, n in
          enumerate([3, 5, 2, 4, 6, 1])]
    rows, truncated = pack_examples(ex, 7)
    assert truncated == 0 and all(len(r["input_ids"]) <= 7 for r in rows)
    assert sorted(t for r in rows for t in r["input_ids"]) == sorted(t for e in ex for t in e[0])
    assert len(rows) == 3  # 21 tokens in rows of 7: first-fit decreasing finds 6+1, 5+2, 4+3
    for r in rows:  # every example starts at position 0, its first token carries no label
        starts = [i for i, p in enumerate(r["position_ids"]) if p == 0]
        assert all(r["labels"][i] == -100 for i in starts)


def test_labels_only_on_assistant_turns(inst_tok_dir):
    tok = AutoTokenizer.from_pretrained(inst_tok_dir)
    conv = [{"role": "user", "content": "Speech: " + units_to_text([1, 2, 3]) + "\nEnglish:"},
            {"role": "assistant", "content": "the cat sat"},
            {"role": "user", "content": "Toyish:"},
            {"role": "assistant", "content": "dog red"}]
    [(ids, labels)] = tokenize_conversations(tok, [conv])
    assert ids == tok.apply_chat_template(conv, tokenize=True, return_dict=False)
    spans, cur = [], []
    for t, l in zip(ids, labels):
        if l != -100:
            assert l == t
            cur.append(t)
        elif cur:
            spans.append(cur)
            cur = []
    spans += [cur] if cur else []
    assert [tok.decode(s) for s in spans] == ["the cat sat<|im_end|>", "dog red<|im_end|>"]


def test_conversation_without_assistant_is_an_error(inst_tok_dir):
    tok = AutoTokenizer.from_pretrained(inst_tok_dir)
    with pytest.raises(ValueError, match="corpus.jsonl:2: conversation without an assistant"):
        tokenize_conversations(tok, [[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
                                     [{"role": "user", "content": "a"}]], source="corpus.jsonl")


def test_mixed_corpus_is_an_error(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"text": "a"}\n{"messages": []}\n')
    with pytest.raises(ValueError, match="c.jsonl:2"):
        read_corpus(str(p))


def _write_cpt(path, n=400):
    path.write_text("".join(json.dumps({"text": s}) + "\n" for s in toy_sentences(n, seed=2)))
    return path


@pytest.fixture(scope="module")
def init_model(inst_tok_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("init") / "m"
    run_task("init_llama.py", "--tokenizer", inst_tok_dir, "--preset", "tiny", "--out", out)
    return out


TRAIN = ["--seq-len", 64, "--micro-batch", 8, "--lr", 3e-3, "--warmup-steps", 2,
         "--logging-steps", 2, "--torch-threads", 1]


def test_cpt_then_it_loss_decreases(init_model, tmp_path):
    cpt = _write_cpt(tmp_path / "cpt.jsonl")
    run_task("train_lm.py", "--model", init_model, "--train-file", cpt, "--output-dir",
             tmp_path / "cpt", "--max-steps", 30, *TRAIN)
    log = [json.loads(l) for l in (tmp_path / "cpt" / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"] - 0.5
    assert set(log[0]) == {"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens",
                           "tokens_per_second", "elapsed_s"}
    assert (tmp_path / "cpt" / "loss.png").stat().st_size > 1000
    assert not (tmp_path / "cpt.checkpoints").exists()  # removed after success
    it = tmp_path / "it.jsonl"
    it.write_text("".join(json.dumps({"messages": [{"role": "user", "content": "Repeat: " + s},
                                                   {"role": "assistant", "content": s}]}) + "\n"
                          for s in toy_sentences(150, seed=4)))
    run_task("train_lm.py", "--model", tmp_path / "cpt", "--train-file", it, "--output-dir",
             tmp_path / "it", "--num-epochs", 2, *TRAIN)
    summary = json.loads((tmp_path / "it" / "train_summary.json").read_text())
    assert summary["corpus"]["kind"] == "it" and summary["global_step"] > 0
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "it")
    tok = AutoTokenizer.from_pretrained(tmp_path / "it")
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    with pytest.raises(FileExistsError):  # a finished model is never silently overwritten
        from spire.training import TrainOptions, train
        train(TrainOptions(model=str(tmp_path / "cpt"), train_file=str(it), output_dir=str(tmp_path / "it")))


def test_run_shorter_than_logging_steps_still_logs_its_last_step(init_model, tmp_path):
    cpt = _write_cpt(tmp_path / "cpt.jsonl", 100)
    run_task("train_lm.py", "--model", init_model, "--train-file", cpt, "--output-dir",
             tmp_path / "out", "--max-steps", 3, *TRAIN, "--logging-steps", 10)  # last flag wins
    log = [json.loads(l) for l in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3] and log[0]["loss"] > 0
    assert (tmp_path / "out" / "loss.png").stat().st_size > 1000


def test_killed_run_resumes_and_step_count_continues(init_model, tmp_path):
    cpt = _write_cpt(tmp_path / "cpt.jsonl", 2000)
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    args = [sys.executable, str(REPO / "tasks" / "train_lm.py"), "--model", init_model,
            "--train-file", cpt, "--output-dir", out, "--checkpoint-dir", ckpt,
            "--max-steps", 40, "--save-steps", 5, *TRAIN]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    p = subprocess.Popen(list(map(str, args)), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (ckpt / "checkpoint-10" / "trainer_state.json").is_file():
            assert p.poll() is None and time.time() < deadline, "no checkpoint-10 appeared"
            time.sleep(0.05)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert not (out / "train_summary.json").exists()
    run_task("train_lm.py", *args[2:])
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from_step"] >= 10 and summary["global_step"] == 40
    steps = [json.loads(l)["step"] for l in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(2, 41, 2))  # one record per logging step, none lost or repeated


def test_auto_precision_follows_the_cpu(monkeypatch):
    from spire import training
    # a GPU always trains in bf16; a CPU in bf16 only where it has the instructions
    assert training.resolve_precision("auto", cuda=True) == "bf16"
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)
    assert training.resolve_precision("auto", cuda=False) == "bf16"
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)
    assert training.resolve_precision("auto", cuda=False) == "fp32"
    # an explicit choice is kept, whatever the machine
    assert training.resolve_precision("fp32", cuda=True) == "fp32"
    assert training.resolve_precision("bf16", cuda=False) == "bf16"
    with pytest.raises(ValueError, match="choose auto, bf16, fp16 or fp32"):
        training.resolve_precision("fp8", cuda=False)


def test_cpu_bf16_probe_is_the_torch_one(monkeypatch):
    from spire import training
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert training.cpu_has_bf16() is True
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert training.cpu_has_bf16() is False
    # a torch without the private probes counts as no bf16
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert training.cpu_has_bf16() is False


def test_resume_with_another_lr_is_refused_and_fresh_starts_over(init_model, tmp_path):
    """Issue 31: a run stopped after a checkpoint, rerun with another learning rate, used to resume
    and keep the restored scheduler's rate. Now it is refused naming lr; --fresh starts at step 0
    with the new rate and keeps the old checkpoints aside."""
    from spire.training import TrainingIncomplete, TrainOptions, train
    cpt = _write_cpt(tmp_path / "cpt.jsonl", 200)
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    common = dict(model=str(init_model), train_file=str(cpt), output_dir=str(out), checkpoint_dir=str(ckpt),
                  seq_len=64, micro_batch=4, max_steps=3, logging_steps=1, torch_threads=1)
    # interrupted after its first checkpoint (a cap shorter than a step: checkpoint-1, no model)
    with pytest.raises(TrainingIncomplete):
        train(TrainOptions(**common, lr=1e-4, max_minutes=0.0001, exit_incomplete_code=75))
    assert (ckpt / "checkpoint-1" / "trainer_state.json").is_file()
    assert json.loads((ckpt / "fingerprint.json").read_text())["options"]["lr"] == 1e-4

    args = [f"--{k.replace('_', '-')}={v}" for k, v in common.items()]
    p = subprocess.run([sys.executable, str(REPO / "tasks" / "train_lm.py"), *args, "--lr", "3e-3"],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false"))
    assert p.returncode == 2, p.stderr[-3000:]
    assert "lr: 0.0001 → 0.003" in p.stderr and "--fresh" in p.stderr
    assert "resuming from" not in p.stderr and "Traceback" not in p.stderr and not out.exists()
    assert (ckpt / "checkpoint-1").is_dir()  # nothing lost

    train(TrainOptions(**common, lr=3e-3, fresh=True))
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 0 and summary["global_step"] == 3
    log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert log[0]["learning_rate"] > 1e-4  # the new rate, which the old run never reached
    assert json.loads((out / "fingerprint.json").read_text())["options"]["lr"] == 3e-3
    [stale] = tmp_path.glob("ckpt.stale-*")
    assert (stale / "checkpoint-1" / "trainer_state.json").is_file()
    assert json.loads((stale / "fingerprint.json").read_text())["options"]["lr"] == 1e-4
