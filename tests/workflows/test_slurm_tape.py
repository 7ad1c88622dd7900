"""The workflow's own Slurm submitter (workflows/slurm.tape, the one paper.tconf uses) against a
real single-node Slurm on localhost (tests/ducttape/slurm_local.sh): GPUs per node with one task
per node; the job outlives a HUP of the shell that submitted it; SIGTERM cancels it."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "ducttape" / "slurm_local.sh"

TAPE = """
import "{repo}/workflows/slurm.tape"
global {{
  ducttape_experimental_imports=true
  ducttape_experimental_submitters=true
}}
task slow > x
    :: .submitter=slurm .partition="" .account="" .nodes=1 .gpus=0 .cpus=1 .mem="" .time="0:05:00" {{
  sleep {sleep}
  echo done > $x
}}
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if not (shutil.which("sbatch") and shutil.which("slurmctld")):
        if os.geteuid() != 0:
            pytest.skip("Slurm is not installed and installing it needs root (make test-setup)")
    state = tmp_path_factory.mktemp("slurm")
    proc = subprocess.run(["bash", str(SCRIPT), "start", str(state)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"could not start a local Slurm:\n{proc.stdout}\n{proc.stderr}"
    try:
        yield {"SLURM_CONF": str(state / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(state)], capture_output=True, timeout=120)


def _state(jobid, env):
    q = subprocess.run(["squeue", "-h", "-j", jobid, "-o", "%T"], capture_output=True, text=True,
                       env=env, timeout=30)
    if q.stdout.strip():
        return q.stdout.strip()
    rec = subprocess.run(["sacct", "-c", "-n", "-P", "-o", "JobID,State"], capture_output=True,
                         text=True, env=env, timeout=30).stdout
    return dict(line.split("|")[:2] for line in rec.splitlines() if "|" in line).get(jobid, "")


def _start(tmp_path, slurm, sleep):
    (tmp_path / "wf.tape").write_text(TAPE.format(repo=REPO, sleep=sleep))
    env = dict(os.environ, PYTHONPATH=str(REPO), DUCTTAPE_NO_USER_CONFIG="1", **slurm)
    # its own session: a terminal hangup reaches its whole process group, as in a login shell
    p = subprocess.Popen([sys.executable, "-m", "ducttape", "wf.tape", "-y", "-O", "out"], cwd=tmp_path,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    d = tmp_path / "out" / "slow" / "Baseline.baseline"
    jobfile = d / "ducttape_slurm_jobid.txt"
    deadline = time.time() + 120
    while not (jobfile.exists() and jobfile.read_text().strip()):
        assert p.poll() is None and time.time() < deadline, p.communicate()
        time.sleep(0.1)
    jobid = jobfile.read_text().split(";")[0].strip()
    while _state(jobid, env) != "RUNNING":
        assert time.time() < deadline, _state(jobid, env)
        time.sleep(0.2)
    return p, d, jobid, env


def test_job_script_asks_gpus_per_node_and_one_task_per_node(tmp_path, slurm):
    p, d, jobid, env = _start(tmp_path, slurm, 1)
    p.communicate(timeout=120)
    assert p.returncode == 0
    script = (d / "ducttape_job.sh").read_text()
    assert "#SBATCH --nodes=1" in script and "#SBATCH --ntasks-per-node=1" in script
    assert "--gpus" not in script  # .gpus=0: none asked
    assert (d / "x").read_text() == "done\n"


def test_hup_leaves_the_job_running_and_sigterm_cancels_it(tmp_path, slurm):
    p, d, jobid, env = _start(tmp_path, slurm, 120)
    try:
        # the login shell went away: HUP to ducttape's process group and, as under ducttape 0.3
        # whose tasks share that group, to the submitter itself
        shells = _submitter_shells(d)
        assert shells
        os.killpg(p.pid, signal.SIGHUP)
        for pid in shells:
            os.kill(pid, signal.SIGHUP)
        time.sleep(3)
        assert _state(jobid, env) == "RUNNING"
    finally:
        if p.poll() is None:  # ducttape ignored the HUP: TERM it (it forwards TERM to the task)
            p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)
    # whether ducttape died of the HUP or not, TERM to the submitter (found by its working
    # directory) must cancel the job, as Ctrl-C/kill of ducttape does through its process group
    for pid in _submitter_shells(d):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 60
    while not _state(jobid, env).startswith("CANCELLED"):
        assert time.time() < deadline, _state(jobid, env)
        time.sleep(0.2)


def _submitter_shells(d: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or os.readlink(proc / "cwd") != str(d):
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            # the submitter's shell, not the job's own (slurmd runs it as .../slurm_script)
            if argv[0].endswith(b"bash") and not any(a.endswith(b"slurm_script") for a in argv[1:]):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids
