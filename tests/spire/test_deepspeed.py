"""DeepSpeed ZeRO-2/3 with two CPU ranks (gloo) through the launcher the tapes use.

The first run on a machine JIT-compiles DeepSpeed's shared-memory comm op (~30-90 s, cached in
~/.cache/torch_extensions); later runs take seconds.
"""
import json
import socket

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.spire.lm_fixtures import REPO, inst_tok_dir, base_tok_dir, run_task, toy_sentences  # noqa: F401


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setup(inst_tok_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("ds")
    run_task("init_llama.py", "--tokenizer", inst_tok_dir, "--preset", "tiny", "--out", d / "init")
    (d / "cpt.jsonl").write_text("".join(json.dumps({"text": s}) + "\n" for s in toy_sentences(400, seed=7)))
    return d


def common(d, out, micro):
    return ["--model", d / "init", "--train-file", d / "cpt.jsonl", "--output-dir", d / out,
            "--seq-len", 64, "--micro-batch", micro, "--lr", 3e-3, "--max-steps", 8,
            "--logging-steps", 2, "--save-steps", 4, "--seed", 3, "--torch-threads", 1]


def losses(path):
    return [json.loads(l)["loss"] for l in (path / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def zero2_run(setup):
    run_task("launch_train.py", "--cpu-procs", 2, "--master-port", free_port(), "--",
             *common(setup, "z2", 4), "--deepspeed", REPO / "configs/deepspeed/zero2.json")
    return setup / "z2"


@pytest.mark.parametrize("stage", [2, 3])
def test_zero_two_cpu_ranks_produce_a_model(setup, zero2_run, stage):
    if stage == 2:
        out = zero2_run
    else:
        run_task("launch_train.py", "--cpu-procs", 2, "--master-port", free_port(), "--",
                 *common(setup, "z3", 4), "--deepspeed", REPO / "configs/deepspeed/zero3.json")
        out = setup / "z3"
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_step"] == 8
    assert summary["engine"] == "DeepSpeedEngine" and summary["zero_stage"] == stage
    model = AutoModelForCausalLM.from_pretrained(out)  # ZeRO-3 shards gathered into a full model
    init = AutoModelForCausalLM.from_pretrained(setup / "init")
    for (name, p), q in zip(model.named_parameters(), init.parameters()):
        assert p.shape == q.shape, name
    assert not torch.equal(model.model.embed_tokens.weight, init.model.embed_tokens.weight)
    assert losses(out)[-1] < losses(out)[0]


def test_two_ranks_match_one_rank_with_same_global_batch(setup, zero2_run):
    run_task("train_lm.py", *common(setup, "one", 8))  # 1 process, micro-batch 8 = 2 ranks x 4
    one, two = losses(setup / "one"), losses(zero2_run)
    assert len(one) == len(two) == 4
    for a, b in zip(one, two):
        assert abs(a - b) < 0.02 * a, (one, two)


def test_launch_commands():
    import sys
    from spire.launch import expand_nodelist, launch_command, slurm_rendezvous
    assert launch_command(["--x", 1], gpus_per_node=0) == [sys.executable, str(REPO / "tasks/train_lm.py"), "--x", "1"]
    assert expand_nodelist("gpu[01-03,07],cpu5") == ["gpu01", "gpu02", "gpu03", "gpu07", "cpu5"]
    env = {"SLURM_JOB_NODELIST": "n[1-2]", "SLURM_NNODES": "2", "SLURM_NODEID": "1", "SLURM_JOB_ID": "1234"}
    assert slurm_rendezvous(env) == {"master_addr": "n1", "nodes": 2, "node_rank": 1, "master_port": 21234}
    cmd = launch_command(["--x"], gpus_per_node=8, nodes=2, env=env)
    assert cmd[3:8] == ["--nproc_per_node=8", "--nnodes=2", "--node_rank=1", "--master_addr=n1",
                        "--master_port=21234"]
    ds = launch_command(["--x"], gpus_per_node=8, nodes=2, launcher="deepspeed", hostfile="hosts")
    assert ds[:5] == ["deepspeed", "--num_gpus=8", "--master_port=29500", "--num_nodes=2", "--hostfile=hosts"]
    with pytest.raises(ValueError, match="hostfile"):
        launch_command(["--x"], gpus_per_node=8, nodes=2, launcher="deepspeed")
