"""Packed training data (spire/packed.py, tasks/pack_corpus.py, train_lm.py --train-data)."""
import json
import random
import subprocess
import sys

import numpy as np
import pytest
from transformers import AutoTokenizer

from spire.packed import PackedRows, pack_corpus
from spire.training import build_rows, last_checkpoint, read_corpus
from spire.units import units_to_text
from tests.spire.lm_fixtures import REPO, base_tok_dir, inst_tok_dir, run_task, toy_sentences  # noqa: F401


def _cpt(path, n=200, seed=3):
    rng = random.Random(seed)
    path.write_text("".join(json.dumps({"text": f"Speech: {units_to_text(rng.randrange(40) for _ in range(rng.randint(5, 60)))}"
                                                f"\nEnglish: {s}"}) + "\n" for s in toy_sentences(n, seed=seed)))
    return path


def _it(path, n=200, seed=4):
    rng = random.Random(seed)
    lines = []
    for s in toy_sentences(n, seed=seed):
        units = units_to_text(rng.randrange(40) for _ in range(rng.randint(5, 60)))
        lines.append(json.dumps({"messages": [{"role": "user", "content": f"Speech: {units}\nEnglish:"},
                                              {"role": "assistant", "content": s}]}))
        if rng.random() < 0.1:
            lines.append("")  # blank lines are skipped, as by iter_jsonl
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("kind", ["cpt", "it"])
@pytest.mark.parametrize("packing", [True, False])
def test_packed_rows_equal_the_in_memory_rows(inst_tok_dir, tmp_path, kind, packing):
    """Same rows (ids, labels, position resets; first-fit for IT), in the same order, as
    spire.packing, whatever the chunking and number of processes."""
    corpus = (_cpt if kind == "cpt" else _it)(tmp_path / f"{kind}.jsonl")
    tok = AutoTokenizer.from_pretrained(inst_tok_dir)
    ref, stats = build_rows(tok, str(corpus), 64, packing)
    assert stats["truncated"] or kind == "cpt" and packing  # the cut/truncation paths are exercised
    for procs in (1, 2):
        out = tmp_path / f"packed{procs}"
        meta = pack_corpus(str(inst_tok_dir), [str(corpus)], 64, str(out), num_proc=procs,
                           packing=packing, lines_per_chunk=23, progress=False)
        rows = PackedRows(out)
        assert len(rows) == len(ref)
        for i, r in enumerate(ref):
            got = rows[i]
            assert set(got) == set(r)
            for k in r:
                assert got[k].tolist() == list(r[k]), (procs, i, k)
        assert {k: meta["stats"][k] for k in ("examples", "rows", "tokens", "label_tokens", "truncated")} == \
               {k: stats[k] for k in ("examples", "rows", "tokens", "label_tokens", "truncated")}


def test_pack_corpus_cli_writes_a_complete_directory(inst_tok_dir, tmp_path):
    corpus = _cpt(tmp_path / "a.jsonl", 50)
    second = _cpt(tmp_path / "b.jsonl", 30, seed=5)
    run_task("pack_corpus.py", "--tokenizer", inst_tok_dir, "--input", corpus, "--input", second,
             "--seq-len", 32, "--out", tmp_path / "p", "--num-proc", 2)
    meta = json.loads((tmp_path / "p" / "meta.json").read_text())
    assert meta["stats"]["examples"] == 80 and meta["kind"] == "text" and meta["seq_len"] == 32
    tokens = np.fromfile(tmp_path / "p" / "tokens.bin", np.int32)
    assert len(tokens) == meta["stream_tokens"] == meta["stats"]["tokens"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    r = subprocess.run([sys.executable, str(REPO / "tasks" / "pack_corpus.py"), "--tokenizer", str(inst_tok_dir),
                        "--input", str(corpus), "--seq-len", "32", "--out", str(tmp_path / "p")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "already exists" in r.stderr
    # CPT packing needs only the Rust tokenizer: no transformers (and torch) import, seconds each
    code = ("import sys; from spire.packed import pack_corpus; "
            f"pack_corpus({str(inst_tok_dir)!r}, [{str(corpus)!r}], 32, {str(tmp_path / 'q')!r}, progress=False); "
            "print('transformers' in sys.modules, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and r.stdout.split() == ["False", "False"], r.stderr[-2000:]


@pytest.mark.parametrize("line, message", [
    ('{"messages": "hello"}', "'messages' must be a non-empty list"),
    ('{"messages": [{"role": "user"}]}', "message 0 must be an object with string 'role' and 'content'"),
    ('{"messages": [{"role": "user", "content": "a"}]}', "conversation without an assistant turn"),
    ('{"text": "a cat"}', "a 'text' row in a 'messages' corpus"),
    ('[1, 2]', "expected a JSON object"),
])
def test_bad_it_line_names_the_file_and_line(inst_tok_dir, tmp_path, line, message):
    good = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    corpus = tmp_path / "it.jsonl"
    corpus.write_text(f"{good}\n\n{line}\n")
    r = subprocess.run([sys.executable, str(REPO / "tasks" / "pack_corpus.py"), "--tokenizer",
                        str(inst_tok_dir), "--input", str(corpus), "--seq-len", "32", "--out",
                        str(tmp_path / "p"), "--num-proc", "1"], capture_output=True, text=True)
    assert r.returncode != 0
    assert f"{corpus}:3: {message}" in r.stderr, r.stderr[-2000:]
    assert "AttributeError" not in r.stderr and not (tmp_path / "p").exists()
    if line.startswith('{"messages"'):
        with pytest.raises(ValueError, match=f"it.jsonl:3: {message[:20]}"):
            read_corpus(str(corpus))  # the in-memory path says the same


def test_last_checkpoint_skips_one_killed_while_saving(tmp_path):
    for step, complete in ((5, True), (10, True), (15, False)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    assert last_checkpoint(tmp_path / "checkpoint-15") is None


@pytest.fixture(scope="module")
def tiny_model(inst_tok_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("init") / "m"
    run_task("init_llama.py", "--tokenizer", inst_tok_dir, "--preset", "tiny", "--out", out)
    return out


def test_train_from_packed_data_checkpoints_by_wall_clock(tiny_model, inst_tok_dir, tmp_path):
    data = tmp_path / "packed"
    pack_corpus(str(inst_tok_dir), [str(_it(tmp_path / "it.jsonl", 300))], 64, str(data), progress=False)
    ckpt = tmp_path / "ckpt"
    run_task("train_lm.py", "--model", tiny_model, "--train-data", data, "--output-dir", tmp_path / "out",
             "--checkpoint-dir", ckpt, "--max-steps", 4, "--micro-batch", 4, "--grad-accum", 2,
             "--save-steps", 1000, "--save-minutes", 0.0001, "--keep-checkpoints",
             "--gradient-checkpointing", "false", "--torch-threads", 1)
    # no step reached save_steps: the checkpoints are the wall-clock ones (the last two kept)
    assert sorted(p.name for p in ckpt.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-4"]
    summary = json.loads((tmp_path / "out" / "train_summary.json").read_text())
    assert summary["global_batch"] == {"sequences": 8, "tokens": 512, "micro_batch": 4, "grad_accum": 2,
                                       "world_size": 1, "seq_len": 64}
    assert summary["corpus"]["kind"] == "it" and summary["options"]["train_data"] == str(data)
    r = subprocess.run([sys.executable, str(REPO / "tasks" / "train_lm.py"), "--model", str(tiny_model),
                        "--train-data", str(data), "--output-dir", str(tmp_path / "o2"), "--seq-len", "128"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "was packed with --seq-len 64" in r.stderr


def test_a_run_the_wall_clock_cap_stops_says_so(tiny_model, inst_tok_dir, tmp_path):
    # the demo's budgets are steps; a cap reached on a slow CPU must not pass for the planned model
    data = tmp_path / "packed"
    pack_corpus(str(inst_tok_dir), [str(_it(tmp_path / "it.jsonl", 300))], 64, str(data), progress=False)
    proc = run_task("train_lm.py", "--model", tiny_model, "--train-data", data, "--output-dir", tmp_path / "out",
                    "--checkpoint-dir", tmp_path / "ckpt", "--max-steps", 40, "--micro-batch", 4,
                    "--max-minutes", 0.00001, "--gradient-checkpointing", "false", "--torch-threads", 1)
    summary = json.loads((tmp_path / "out" / "train_summary.json").read_text())
    assert summary["planned_steps"] == 40 and summary["global_step"] == 1
    assert "reached at step 1 of 40: the model is cut short" in proc.stderr
