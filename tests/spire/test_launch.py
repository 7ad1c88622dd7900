"""The cluster launch path (spire/launch.py, tasks/launch_train.py): GPUs asked for where there are
none stop at once; rendezvous that two jobs on one node cannot share; the job's clock (Slurm time
strings, the partition's maximum, the trainer's cap below the job's end) and a run that the clock
stops counting as unfinished."""
import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
import time

import pytest

from spire import launch
from spire.launch import CudaProbe, GpuUnavailable, check_gpus, launch_command
from tests.spire.lm_fixtures import REPO, base_tok_dir, inst_tok_dir, run_task, toy_sentences  # noqa: F401


def _launch_train_module():
    spec = importlib.util.spec_from_file_location("launch_train", REPO / "tasks" / "launch_train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def trainer_args(tmp_path):
    """The smallest valid trainer argv: a model directory (a config suffices: nothing loads it)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return ["--model", str(model), "--train-file", str(tmp_path / "c.jsonl"),
            "--output-dir", str(tmp_path / "out")]


# ------------------------------------------------------------------ GPUs asked for, none there
def test_gpus_without_cuda_stop_at_once_naming_the_problem():
    # CUDA_VISIBLE_DEVICES="": no device on a GPU machine either, so the test means the same there
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    t0 = time.time()
    proc = subprocess.run([sys.executable, str(REPO / "tasks/launch_train.py"), "--gpus-per-node", "2",
                           "--", "--model", "x"], capture_output=True, text=True, env=env, timeout=120)
    wall = time.time() - t0
    assert proc.returncode == 2, proc.stderr
    assert wall < 60, wall
    err = proc.stderr
    assert "--gpus-per-node 2 asks for 2 GPU(s)" in err
    assert "CPU build (torch.version.cuda is None)" in err or "sees no CUDA device" in err, err
    assert 'README.md, section "Cluster install"' in err
    assert "launching" not in err and "torch.distributed" not in err  # nothing was started


def test_gpu_check_names_each_missing_piece():
    cpu_build = CudaProbe("2.11.0+cpu", None, 0)
    with pytest.raises(GpuUnavailable, match=r"CPU build \(torch.version.cuda is None\).*Install a CUDA build"):
        check_gpus(2, cpu_build, env={})
    no_driver = CudaProbe("2.11.0+cu126", "12.6", 0, "The NVIDIA driver on your system is too old")
    with pytest.raises(GpuUnavailable, match=r"sees no CUDA device.*older than CUDA 12.6.*too old"):
        check_gpus(8, no_driver, env={})
    with pytest.raises(GpuUnavailable, match=r"sees only 4\. CUDA_VISIBLE_DEVICES='0,1,2,3'.*"
                                             r"lower --gpus-per-node to 4"):
        check_gpus(8, CudaProbe("2.11.0+cu126", "12.6", 4), env={"CUDA_VISIBLE_DEVICES": "0,1,2,3"})
    check_gpus(8, CudaProbe("2.11.0+cu126", "12.6", 8), env={})  # enough
    check_gpus(0, cpu_build, env={})                               # a CPU run asked for


def test_launcher_checks_gpus_only_when_it_will_use_them(monkeypatch, capsys, trainer_args):
    mod = _launch_train_module()
    asked = []
    monkeypatch.setattr(mod, "check_gpus", lambda n: asked.append(n))
    monkeypatch.setattr(mod.subprocess, "call", lambda cmd, env: 0)
    assert mod.main(["--gpus-per-node", "4", "--", *trainer_args]) == 0 and asked == [4]
    assert mod.main(["--cpu-procs", "2", "--", *trainer_args]) == 0 and asked == [4]
    assert mod.main(["--gpus-per-node", "0", "--", *trainer_args]) == 0 and asked == [4]
    assert mod.main(["--gpus-per-node", "8", "--print-launch-cmd", "--", "--x"]) == 0 and asked == [4]


def test_cpu_procs_mark_their_ranks_as_cpu_on_purpose(monkeypatch, trainer_args):
    mod = _launch_train_module()
    seen = {}
    monkeypatch.setattr(mod.subprocess, "call", lambda cmd, env: seen.update(env) or 0)
    mod.main(["--cpu-procs", "2", "--", *trainer_args])
    assert seen[launch.CPU_RANKS_ENV] == "1"


def test_trainer_refuses_local_ranks_without_cuda_unless_cpu_ranks_were_asked():
    with pytest.raises(GpuUnavailable, match=r"2 ranks on this node but torch sees no CUDA device.*--cpu-procs"):
        launch.check_rank_device(False, {"LOCAL_WORLD_SIZE": "2"})
    with pytest.raises(GpuUnavailable):  # the deepspeed launcher's name for it
        launch.check_rank_device(False, {"LOCAL_SIZE": "8"})
    launch.check_rank_device(False, {"LOCAL_WORLD_SIZE": "2", launch.CPU_RANKS_ENV: "1"})
    launch.check_rank_device(True, {"LOCAL_WORLD_SIZE": "8"})
    launch.check_rank_device(False, {"LOCAL_WORLD_SIZE": "1"})  # one process on CPU: asked for
    launch.check_rank_device(False, {})


def test_trainer_started_as_a_gpu_rank_without_cuda_fails_before_loading(tmp_path, trainer_args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", LOCAL_WORLD_SIZE="2", OMP_NUM_THREADS="1")
    env.pop(launch.CPU_RANKS_ENV, None)
    # the model directory holds only a config: loading it would fail, the device check comes first
    proc = subprocess.run([sys.executable, str(REPO / "tasks/train_lm.py"), *trainer_args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert "2 ranks on this node but torch sees no CUDA device" in proc.stderr, proc.stderr[-2000:]


# ------------------------------------------------------------------ rendezvous
def test_one_node_never_uses_a_fixed_port():
    cmd = launch_command(["--x"], gpus_per_node=8)
    assert "--standalone" in cmd and not any(c.startswith("--master_port") for c in cmd)
    assert cmd[cmd.index("--standalone") + 1] == str(launch.TRAIN_SCRIPT)  # launcher flags first
    cpu = launch_command(["--x"], cpu_procs=2)
    assert "--standalone" in cpu and "--nproc_per_node=2" in cpu
    # a port given is a port used (tests pick free ones)
    given = launch_command(["--x"], gpus_per_node=8, master_port=31234)
    assert "--master_port=31234" in given and "--standalone" not in given
    # the deepspeed launcher has no standalone mode: a port the OS says is free
    ports = {int(launch_command(["--x"], gpus_per_node=8, launcher="deepspeed")[2].split("=")[1])
             for _ in range(3)}
    assert launch.DEFAULT_PORT not in ports
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free when chosen


def test_several_nodes_meet_on_the_slurm_jobs_port():
    def port(job, env_extra=None):
        env = {"SLURM_JOB_NODELIST": "n[1-2]", "SLURM_NNODES": "2", "SLURM_NODEID": "0",
               "SLURM_JOB_ID": str(job), **(env_extra or {})}
        cmd = launch_command(["--x"], gpus_per_node=8, nodes=2, env=env)
        return [c for c in cmd if c.startswith("--master_port=")]
    assert port(1234) == ["--master_port=21234"] and port(1235) == ["--master_port=21235"]
    assert port(1234, {"MASTER_PORT": "40000"}) == ["--master_port=40000"]


def test_two_standalone_launches_on_one_machine_do_not_collide(tmp_path):
    """Two torchrun launches at once, each with two gloo ranks that all-reduce: both succeed."""
    script = tmp_path / "ranks.py"
    script.write_text("import os, torch, torch.distributed as dist\n"
                      "dist.init_process_group('gloo')\n"
                      "t = torch.ones(1); dist.all_reduce(t)\n"
                      "open(os.environ['OUT'] + os.environ['RANK'], 'w').write(str(int(t.item())))\n"
                      "dist.destroy_process_group()\n")
    cmd = [str(script) if c == str(launch.TRAIN_SCRIPT) else c
           for c in launch_command([], cpu_procs=2)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen(cmd, env=dict(env, OUT=str(tmp_path / f"job{j}_")), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for j in range(2)]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    for j in range(2):
        assert [(tmp_path / f"job{j}_{r}").read_text() for r in range(2)] == ["2", "2"]


# ------------------------------------------------------------------ the job's clock
@pytest.mark.parametrize("text,minutes", [
    ("2-00:00:00", 2880), ("14-00:00:00", 20160), ("48:00:00", 2880), ("0:30:00", 30), ("90", 90),
    ("30:30", 30.5), ("1-12", 2160), ("1-12:30", 2190), ('"4-00:00:00"', 5760), ("7-0:0:30", 10080.5)])
def test_slurm_time_strings(text, minutes):
    assert launch.parse_slurm_time(text) == minutes


@pytest.mark.parametrize("text", ["", "UNLIMITED", "infinite", "0"])
def test_slurm_time_without_limit(text):
    assert launch.parse_slurm_time(text) == math.inf


@pytest.mark.parametrize("text", ["2 days", "1:2:3:4", "-5", "2-", "12h"])
def test_slurm_time_rejects_other_forms_naming_the_variable(text):
    with pytest.raises(ValueError, match=r"cpt_time=.* is not a Slurm time: use D-HH:MM:SS"):
        launch.parse_slurm_time(text, "cpt_time")


def test_job_time_must_fit_the_partition_and_leave_time_to_save():
    names = ("cpt_time", "slurm_max_time", "cpt_minutes")
    with pytest.raises(ValueError, match=r"cpt_time='14-00:00:00' is longer than the partition's maximum "
                                         r"slurm_max_time='2-00:00:00'.*pending forever"):
        launch.check_job_time("14-00:00:00", "2-00:00:00", names=names)
    with pytest.raises(ValueError, match=r"cpt_minutes=100000 does not stop the trainer before the job's "
                                         r"end \(cpt_time='2-00:00:00' = 2880 min\) with 60 min.*at most 2820"):
        launch.check_job_time("2-00:00:00", "7-00:00:00", minutes=100000, names=names)
    with pytest.raises(ValueError, match="at most 2820"):  # no room left for the final save
        launch.check_job_time("2-00:00:00", minutes=2850)
    assert launch.check_job_time("2-00:00:00", "2-00:00:00", minutes=2820) == 2880
    assert launch.check_job_time("0:30:00", minutes=3) == 30        # the rehearsal: margin 7.5
    assert launch.check_job_time("", "2-00:00:00", minutes=45) == math.inf  # no time asked


def test_auto_cap_is_the_job_time_less_the_margin_and_marks_a_stop_incomplete():
    args = ["--model", "m", "--max-minutes", "auto", "--save-minutes", "60"]
    out = launch.trainer_clock(args, "2-00:00:00", "2-00:00:00")
    assert out == ["--model", "m", "--max-minutes", "2820", "--save-minutes", "60",
                   "--exit-incomplete-code", str(launch.EXIT_INCOMPLETE)]
    assert launch.trainer_clock(["--max-minutes=auto"], "4:00:00", margin=30) == [
        "--max-minutes=210", "--exit-incomplete-code", "75"]
    with pytest.raises(ValueError, match="longer than the partition's maximum"):
        launch.trainer_clock(args, "7-00:00:00", "2-00:00:00")
    with pytest.raises(ValueError, match=r"--max-minutes auto needs the job's time limit \(--job-time"):
        launch.trainer_clock(args, "")


def test_a_numeric_cap_is_a_budget_checked_against_the_job():
    mini = ["--max-minutes", "45"]
    assert launch.trainer_clock(mini, "") == mini              # the miniature: no job time
    assert launch.trainer_clock(["--max-minutes", "3"], "0:30:00") == ["--max-minutes", "3"]  # rehearsal
    with pytest.raises(ValueError, match=r"--max-minutes=100000 does not stop the trainer"):
        launch.trainer_clock(["--max-minutes", "100000"], "14-00:00:00")


def test_launcher_refuses_a_cap_past_the_job_before_starting(monkeypatch, trainer_args):
    mod = _launch_train_module()
    started = []
    monkeypatch.setattr(mod.subprocess, "call", lambda cmd, env: started.append(cmd) or 0)
    rc = mod.main(["--gpus-per-node", "0", "--job-time", "2-00:00:00", "--", "--max-minutes", "100000"])
    assert rc == 2 and started == []
    assert mod.main(["--gpus-per-node", "0", "--job-time", "2-00:00:00", "--", *trainer_args,
                     "--max-minutes", "auto"]) == 0
    assert started[0][-4:] == ["--max-minutes", "2820", "--exit-incomplete-code", "75"]


def test_launcher_exits_incomplete_when_a_rank_stopped_by_the_clock(monkeypatch, trainer_args):
    """torchrun reports a failed rank as 1: the launcher reads the trainer's marker instead."""
    mod = _launch_train_module()

    def torchrun(cmd, env):
        with open(env[launch.INCOMPLETE_FILE_ENV], "w") as f:
            f.write("75\nstopped at step 3 of 9\n")
        return 1
    monkeypatch.setattr(mod.subprocess, "call", torchrun)
    assert mod.main(["--gpus-per-node", "0", "--", *trainer_args]) == 75
    monkeypatch.setattr(mod.subprocess, "call", lambda cmd, env: 1)  # a crash stays a crash
    assert mod.main(["--gpus-per-node", "0", "--", *trainer_args]) == 1


def test_run_stopped_by_the_clock_is_not_done_and_resumes(inst_tok_dir, tmp_path):
    init = tmp_path / "init"
    run_task("init_llama.py", "--tokenizer", inst_tok_dir, "--preset", "tiny", "--out", init)
    cpt = tmp_path / "cpt.jsonl"
    cpt.write_text("".join(json.dumps({"text": s}) + "\n" for s in toy_sentences(200, seed=5)))
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    common = ["--model", init, "--train-file", cpt, "--output-dir", out, "--checkpoint-dir", ckpt,
              "--seq-len", 64, "--micro-batch", 4, "--max-steps", 6, "--logging-steps", 1,
              "--save-steps", 100, "--torch-threads", 1]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    # a cap shorter than one step: the clock stops the run after its first step
    proc = subprocess.run([sys.executable, str(REPO / "tasks/train_lm.py"), *map(str, common),
                           "--max-minutes", "0.0001", "--exit-incomplete-code", "75"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 75, proc.stderr[-3000:]
    assert "at step 1 of 6" in proc.stderr and "run the task again to resume" in proc.stderr
    assert not out.exists()                                   # no final model: the task is not done
    assert (ckpt / "checkpoint-1" / "trainer_state.json").is_file()
    run_task("train_lm.py", *common)                          # the next job: no cap, resumes
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 1 and summary["global_step"] == 6


# ------------------------------------------------------------------ values checked before launching
@pytest.mark.parametrize("argv, says", [
    (["--nodes", "0"], "launch_train.py: --nodes '0' is not a whole number >= 1; set it_nodes in your tconf"),
    (["--gpus-per-node", "abc"], "launch_train.py: --gpus-per-node 'abc' is not a whole number >= 0; "
                                 "set it_gpus_per_node in your tconf"),
    (["--cpu-procs", "-2"], "launch_train.py: --cpu-procs '-2' is not a whole number >= 1"),
    (["--master-port", "70000"], "launch_train.py: --master-port '70000' is not a whole number from 1 to 65535"),
])
def test_launcher_values_are_one_line(argv, says, capsys, monkeypatch):
    monkeypatch.setenv("TASK", "TrainIT")
    with pytest.raises(SystemExit) as e:
        _launch_train_module().main([*argv, "--", "--model", "m"])
    assert e.value.code == 2 and capsys.readouterr().err == says + "\n"


def test_launcher_refuses_bad_trainer_values_once_before_starting_ranks(monkeypatch, capsys, trainer_args):
    mod = _launch_train_module()
    started = []
    monkeypatch.setattr(mod.subprocess, "call", lambda cmd, env: started.append(cmd) or 0)
    monkeypatch.setenv("TASK", "TrainCPT")
    with pytest.raises(SystemExit) as e:
        mod.main(["--cpu-procs", "2", "--", *trainer_args, "--micro-batch", "-4"])
    assert e.value.code == 2 and started == []
    assert capsys.readouterr().err == ("train_lm.py: --micro-batch '-4' is not a whole number >= 1; "
                                       "set cpt_micro_batch in your tconf\n")
    assert mod.main(["--cpu-procs", "2", "--", "--model", "/nonexistent", *trainer_args[2:]]) == 2
    assert started == [] and "--model /nonexistent: no such directory" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"--max-minutes 'abc' is not a number of minutes"):
        launch.trainer_clock(["--max-minutes", "abc"], "1:00:00")


def test_launcher_refuses_a_resume_of_other_settings_before_starting_ranks(monkeypatch, capsys,
                                                                          trainer_args, tmp_path):
    from spire import fingerprint
    mod = _launch_train_module()
    started = []
    monkeypatch.setattr(mod.subprocess, "call", lambda cmd, env: started.append(cmd) or 0)
    (tmp_path / "c.jsonl").write_text('{"text": "a"}\n')
    ckpt = tmp_path / "out.checkpoints"
    opts = mod.parse_trainer_args([*trainer_args, "--lr", "1e-3"])
    fingerprint.start_run(ckpt, fingerprint.training_fingerprint(opts, 2048, 2))
    (ckpt / "checkpoint-7").mkdir()
    assert mod.main(["--cpu-procs", "2", "--", *trainer_args, "--lr", "1e-3"]) == 0  # same: resumes
    assert mod.main(["--cpu-procs", "4", "--", *trainer_args, "--lr", "2e-3"]) == 2
    assert len(started) == 1
    err = capsys.readouterr().err
    assert "lr: 0.001 → 0.002" in err and "world_size: 2 → 4" in err
    assert mod.main(["--cpu-procs", "4", "--", *trainer_args, "--lr", "2e-3", "--fresh"]) == 0
