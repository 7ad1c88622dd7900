"""TrainCPT and TrainIT as the cluster runs them: their bodies (read by the project's ducttape
parser) run in bash with the variables ducttape exports, with `srun` and `python` stand-ins that
record their arguments; and paper.tconf's job times against the partition maximum of the user
config template."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from ducttape.execute import PREAMBLE  # noqa: E402
from ducttape.syntax import parse_file  # noqa: E402
from spire.launch import check_job_time, parse_slurm_time, trainer_clock  # noqa: E402

TASKS = [("cpt.tape", "TrainCPT"), ("it.tape", "TrainIT")]
# the model card step after training (tests/spire/test_model_card.py) is not recorded
RECORDER = ('#!/bin/sh\ncase "$1" in */write_model_card.py) exit 0;; esac\n'
            'for a in "$@"; do printf "%s\\n" "$a"; done > "$RECORD_DIR/$(basename "$0").args"\n')


def task_def(tape: str, name: str):
    for block in parse_file(str(REPO / "workflows" / tape)):
        if type(block).__name__ == "TaskDef" and block.name == name:
            return block
    raise AssertionError(f"{tape}: no task {name}")


def run_body(tmp_path, task, **dots) -> dict:
    """Run the task's body as ducttape would (its preamble, every variable exported) and return
    {program: argv} of the srun/python calls it made."""
    bindir, record = tmp_path / "bin", tmp_path / "record"
    for d in (bindir, record):
        d.mkdir(exist_ok=True)
    for prog in ("srun", "python"):
        (bindir / prog).write_text(RECORDER)
        (bindir / prog).chmod(0o755)
    env = {s.name: f"V_{s.name}" for s in task.specs()}
    env.update({k: str(v) for k, v in dots.items()})
    env.update(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", RECORD_DIR=str(record))
    workdir = tmp_path / "out" / task.name / "Baseline.baseline"
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["bash", "-c", PREAMBLE + task.body], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {p.stem: p.read_text().splitlines() for p in record.glob("*.args")}


@pytest.mark.parametrize("tape,name", TASKS)
def test_dot_parameters_the_body_uses_are_declared(tape, name):
    task = task_def(tape, name)
    dots = {s.name for s in task.params if s.dot}
    assert {"nodes", "cpus", "time", "gpus"} <= dots, dots  # exported to the body without the dot
    for var in ("$nodes", "$cpus", '"$time"'):
        assert var in task.body


@pytest.mark.parametrize("tape,name", TASKS)
def test_several_nodes_srun_one_launcher_per_node_with_the_jobs_cpus(tmp_path, tape, name):
    task = task_def(tape, name)
    calls = run_body(tmp_path, task, nodes=2, cpus=64, time="2-00:00:00", gpus_per_node=8,
                     minutes="auto", deepspeed="")
    srun = calls["srun"]
    launcher = srun.index("python")
    flags = srun[:launcher]
    assert set(flags) == {"--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
                          "--cpus-per-task=64"}, flags
    argv = srun[launcher + 1:]
    assert argv[0] == "V_repo/tasks/launch_train.py"
    assert argv[argv.index("--job-time") + 1] == "2-00:00:00"
    assert argv[argv.index("--nodes") + 1] == "2" and argv[argv.index("--gpus-per-node") + 1] == "8"
    train = argv[argv.index("--") + 1:]
    # what the launcher will make of the trainer's cap: an hour before the job's end
    clocked = trainer_clock(train, "2-00:00:00")
    assert clocked[clocked.index("--max-minutes") + 1] == "2820" and "--exit-incomplete-code" in clocked
    assert "python" not in calls  # the launcher runs inside srun only


@pytest.mark.parametrize("tape,name", TASKS)
def test_one_node_runs_the_launcher_without_srun(tmp_path, tape, name):
    # the miniature: shell submitter, no Slurm dot values
    calls = run_body(tmp_path, task_def(tape, name), nodes=1, cpus="", time="", gpus_per_node=0,
                     minutes=45, deepspeed="")
    assert "srun" not in calls
    argv = calls["python"]
    assert argv[argv.index("--job-time") + 1] == "" and argv[argv.index("--max-minutes") + 1] == "45"


def tconf_values(path: Path) -> dict:
    """Literal values of a .tconf's globals ($refs kept as '$name')."""
    out = {}
    for block in parse_file(str(path)):
        if type(block).__name__ != "ConfigBlock":
            continue
        for spec in block.specs:
            v = spec.value
            if type(v).__name__ == "Literal":
                out[spec.name] = v.value
            elif type(v).__name__ == "VarRef":
                out[spec.name] = "$" + v.name
    return out


def test_paper_job_times_fit_the_template_partition_maximum_and_the_trainers_stop_before():
    user = tconf_values(REPO / "configs" / "uservars.tconf.TEMPLATE")
    paper = tconf_values(REPO / "configs" / "paper.tconf")
    max_time = user["slurm_max_time"]
    assert parse_slurm_time(max_time) == 2 * 1440
    times = {k: user.get(v[1:], v) if v.startswith("$") else v
             for k, v in paper.items() if k.endswith("_time") and k != "slurm_max_time"}
    assert {"cpt_time", "it_time", "label_time", "data_time"} <= set(times)
    for key, value in times.items():
        check_job_time(value, max_time, names=(key, "slurm_max_time", "-"))
    # training takes the partition's maximum and stops itself before it, to resume in the next job
    assert paper["cpt_time"] == paper["it_time"] == "$slurm_max_time"
    for stage in ("cpt", "it"):
        args = trainer_clock(["--max-minutes", paper[f"{stage}_minutes"]], times[f"{stage}_time"], max_time)
        minutes = float(args[1])
        assert minutes == 2820 and float(paper[f"{stage}_save_minutes"]) < minutes
        assert args[-2:] == ["--exit-incomplete-code", "75"]

