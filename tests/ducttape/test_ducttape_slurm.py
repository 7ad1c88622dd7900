"""The builtin `slurm` submitter against a real single-node Slurm started on localhost.

The fixture runs tests/ducttape/slurm_local.sh, which installs Debian's slurmctld/slurmd/
slurm-client/munge if they are missing (root + apt-get) and starts munged, slurmctld and slurmd
with their state in a temporary directory. Nothing here fakes sbatch: the jobs are checked in
Slurm's own job-completion records (`sacct -c`).
"""

import os
import re
import shutil
import subprocess

import pytest

from dt_helpers import run_dt

pytestmark = pytest.mark.slurm

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slurm_local.sh")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    have = shutil.which("sbatch") and shutil.which("slurmctld")
    if not have and os.geteuid() != 0:
        pytest.skip("Slurm is not installed and installing it needs root "
                    "(run tests/ducttape/slurm_local.sh install as root)")
    state = tmp_path_factory.mktemp("slurm")
    proc = subprocess.run(["bash", SCRIPT, "start", str(state)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"could not start a local Slurm:\n{proc.stdout}\n{proc.stderr}"
    env = {"SLURM_CONF": str(state / "slurm.conf")}
    try:
        yield env
    finally:
        subprocess.run(["bash", SCRIPT, "stop", str(state)], capture_output=True, timeout=120)


TAPE = """
global {
  ducttape_experimental_submitters=true
}

task prepare > data :: .submitter=slurm .cpus=1 .mem=100M .time="0:05:00" {
  echo "prepared in job $SLURM_JOB_ID" > $data
}

task train < data=@prepare > model :: .submitter=slurm .nodes=1 :: lr=(LR: small=0.1 big=0.5) {
  cat $data > $model
  echo "lr=$lr" >> $model
  echo "training in job $SLURM_JOB_ID"
}

task evaluate < model=@train > score :: .submitter=slurm .partition=debug {
  wc -l < $model > $score
}

plan All {
  reach evaluate via (LR: *)
}
"""


def sacct_records(env):
    out = subprocess.run(["sacct", "-c", "-n", "-P", "-o", "JobID,JobName,State"],
                         capture_output=True, text=True, env=dict(os.environ, **env), timeout=60)
    assert out.returncode == 0, out.stderr
    return {line.split("|")[0]: line.split("|")[1:] for line in out.stdout.splitlines() if line}


def test_three_task_workflow_through_sbatch(tmp_path, write, slurm):
    write("wf.tape", TAPE)
    r = run_dt(["wf.tape", "-y", "-j", "2", "-O", "out"], tmp_path, env=slurm, timeout=300)
    assert r.rc == 0, r
    out = tmp_path / "out"
    jobs = {}
    for task, real in [("prepare", "Baseline.baseline"), ("train", "Baseline.baseline"),
                       ("train", "LR.big"), ("evaluate", "Baseline.baseline"),
                       ("evaluate", "LR.big")]:
        d = out / task / real
        assert (d / "ducttape_exit_code.txt").read_text() == "0"
        m = re.search(r"Submitted batch job (\d+)", (d / "ducttape_stderr.txt").read_text())
        assert m, (d / "ducttape_stderr.txt").read_text()
        jobid = m.group(1)
        assert (d / "ducttape_slurm_jobid.txt").read_text().split(";")[0].strip() == jobid
        script = (d / "ducttape_job.sh").read_text()
        assert "#SBATCH --job-name=" in script
        jobs[(task, real)] = jobid
    assert len(set(jobs.values())) == 5
    data = (out / "prepare" / "Baseline.baseline" / "data").read_text()
    assert data == f"prepared in job {jobs[('prepare', 'Baseline.baseline')]}\n"
    assert (out / "train" / "LR.big" / "model").read_text() == data + "lr=0.5\n"
    assert (out / "train" / "LR.big" / "ducttape_stdout.txt").read_text() == \
        f"training in job {jobs[('train', 'LR.big')]}\n"
    assert (out / "evaluate" / "LR.big" / "score").read_text() == "2\n"
    assert "#SBATCH --cpus-per-task=1" in (out / "prepare" / "Baseline.baseline" /
                                           "ducttape_job.sh").read_text()
    assert "#SBATCH --mem=100M" in (out / "prepare" / "Baseline.baseline" /
                                    "ducttape_job.sh").read_text()
    records = sacct_records(slurm)
    for key, jobid in jobs.items():
        assert jobid in records, (jobid, records)
        assert records[jobid][1] == "COMPLETED"
        assert records[jobid][0].startswith(f"{key[0]}-")
    r = run_dt(["wf.tape", "-y", "-O", "out"], tmp_path, env=slurm)
    assert r.rc == 0 and "nothing to do" in r.err


def test_failing_job_fails_the_task(tmp_path, write, slurm):
    write("wf.tape", """
        global {
          ducttape_experimental_submitters=true
        }
        task broken > x :: .submitter=slurm {
          echo "about to fail"
          exit 7
        }
        """)
    r = run_dt(["wf.tape", "-y", "-O", "out"], tmp_path, env=slurm, timeout=300)
    assert r.rc == 1
    d = tmp_path / "out" / "broken" / "Baseline.baseline"
    assert (d / "ducttape_exit_code.txt").read_text() == "7"
    assert (d / "ducttape_stdout.txt").read_text() == "about to fail\n"
    jobid = (d / "ducttape_slurm_jobid.txt").read_text().split(";")[0].strip()
    assert sacct_records(slurm)[jobid][1] == "FAILED"


@pytest.mark.parametrize("sig, rc", [("SIGINT", 130), ("SIGTERM", 130), ("SIGKILL", -9)])
def test_ctrl_c_cancels_the_job(tmp_path, write, slurm, sig, rc):
    """Ctrl-C, TERM and a kill -9 of the engine all cancel the job (no orphan on the cluster):
    after kill -9 the task's supervisor stops the run action, which scancels. (SIGHUP detaches
    the run instead: tests/workflows/test_slurm_tape.py.)"""
    import signal
    import sys
    import time
    from dt_helpers import REPO
    write("wf.tape", """
        global {
          ducttape_experimental_submitters=true
        }
        task slow > x :: .submitter=slurm {
          sleep 120
          echo > $x
        }
        """)
    env = dict(os.environ, PYTHONPATH=REPO, DUCTTAPE_NO_USER_CONFIG="1", **slurm)
    p = subprocess.Popen([sys.executable, "-m", "ducttape", "wf.tape", "-y", "-O", "out"],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    d = tmp_path / "out" / "slow" / "Baseline.baseline"
    jobfile = d / "ducttape_slurm_jobid.txt"
    # deadlines, not counts: on a loaded machine submission and scheduling take longer
    deadline = time.time() + 90
    while time.time() < deadline and not (jobfile.exists() and jobfile.read_text().strip()):
        time.sleep(0.1)
    assert jobfile.exists() and jobfile.read_text().strip(), "no Slurm job id within 90 s"
    jobid = jobfile.read_text().split(";")[0].strip()
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until the job is running
        q = subprocess.run(["squeue", "-h", "-j", jobid, "-o", "%T"], capture_output=True,
                           text=True, env=env)
        if q.stdout.strip() == "RUNNING":
            break
        time.sleep(0.1)
    p.send_signal(getattr(signal, sig))
    out, err = p.communicate(timeout=60)
    assert p.returncode == rc, err
    if sig != "SIGKILL":  # a killed engine writes nothing; the task stays incomplete
        assert (d / "ducttape_exit_code.txt").read_text() != "0"
    for _ in range(100):
        rec = sacct_records(slurm).get(jobid)
        if rec and rec[1].startswith("CANCELLED"):
            break
        time.sleep(0.2)
    assert rec and rec[1].startswith("CANCELLED"), rec
