"""No orphans (issue 31): a task dies with its engine however the engine dies, a task whose
process still lives is never started twice, `unlock` refuses a live lock, SIGHUP detaches, and a
failed task's report names where each of its values came from."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from dt_helpers import REPO

LONG_TAPE = """\
task long > x {
  sleep 300 &
  setsid sleep 300 &
  wait
}
"""


def start_engine(cwd, *args, marker, preexec_fn=None):
    """Start ducttape in the background; every process it starts carries DT_MARKER=marker."""
    env = dict(os.environ, PYTHONPATH=REPO, DUCTTAPE_NO_USER_CONFIG="1", DT_MARKER=marker)
    return subprocess.Popen([sys.executable, "-m", "ducttape", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec_fn)


def marked(marker, exclude=()):
    """Live processes (zombies excluded) whose environment carries DT_MARKER=marker."""
    out = []
    for p in psutil.process_iter():
        if p.pid in exclude:
            continue
        try:
            if p.status() != psutil.STATUS_ZOMBIE and p.environ().get("DT_MARKER") == marker:
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out


def sleeps(marker, exclude=()):
    out = []
    for p in marked(marker, exclude):
        try:
            if p.name() == "sleep":
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def gone(p):
    """Exited (a zombie waiting for init to reap it counts as exited)."""
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for(cond, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    return cond()


def cleanup(marker, engines):
    """Stop what this test started: its engines, then any process carrying its marker."""
    for e in engines:
        if e.poll() is None:
            e.kill()
        e.communicate(timeout=10)
    for p in marked(marker):
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture
def marker():
    m = f"dt-orphans-{uuid.uuid4().hex}"
    yield m
    cleanup(m, [])


def test_kill_9_of_the_engine_kills_every_process_of_its_task(tmp_path, marker):
    (tmp_path / "wf.tape").write_text(LONG_TAPE)
    engine = start_engine(tmp_path, "wf.tape", "-y", marker=marker)
    try:
        # both sleeps run: one in the task's process group, one that left it with setsid
        assert wait_for(lambda: len(sleeps(marker)) == 2), engine
        task = marked(marker, exclude={engine.pid})
        assert len(task) >= 3  # bash, 2 sleeps (and the task's supervisor)
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(5)
        t0 = time.time()
        # every process of the task exited (a process in the middle of exiting no longer shows its
        # environment, so "nothing marked" alone came true a moment early on a loaded CI machine)
        assert wait_for(lambda: not marked(marker) and all(gone(p) for p in task), timeout=5.0), \
            [(p.pid, p.cmdline()) for p in marked(marker)] + [p.pid for p in task if not gone(p)]
        assert time.time() - t0 < 5.0
        log = (tmp_path / "long" / "Baseline.baseline" / "ducttape_stderr.txt").read_text()
        assert "the ducttape engine died; stopping the task" in log
        # the rerun takes the stale lock over and runs exactly one copy
        again = start_engine(tmp_path, "wf.tape", "-y", marker=marker)
        try:
            assert wait_for(lambda: len(sleeps(marker)) == 2 or again.poll() is not None)
            assert again.poll() is None, again.communicate()
            time.sleep(0.3)
            assert len(sleeps(marker)) == 2
        finally:
            again.terminate()
            _, err = again.communicate(timeout=20)
        assert "stale lock" in err
        assert again.returncode == 130
        assert wait_for(lambda: not marked(marker), timeout=5.0)
    finally:
        cleanup(marker, [engine])


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def proc_start(pid):
    """Field 22 of /proc/PID/stat: the start time, in clock ticks since boot."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def orphan_lock(tmp_path, pgid, start):
    """The lock a task that outlived its engine leaves: engine dead, task group `pgid` alive."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = tmp_path / "long" / "Baseline.baseline.LOCK"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(f"host={socket.gethostname()}\nboot={boot_id()}\nengine_pid={dead.pid}\n"
                    f"engine_start=1\ntask_pgid={pgid}\ntask_start={start}\n")
    return lock


def test_rerun_refuses_to_start_a_second_copy_of_a_live_task(tmp_path, dt):
    (tmp_path / "wf.tape").write_text(LONG_TAPE)
    live = tmp_path / "long" / "Baseline.baseline"
    live.mkdir(parents=True)
    (live / "checkpoint").write_text("written by the orphan")
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        lock = orphan_lock(tmp_path, orphan.pid, proc_start(orphan.pid))
        r = dt("wf.tape", "-y")
        assert r.rc == 1, r
        assert "Refusing to start a second copy of a task that is still running" in r.err
        assert f"long/Baseline.baseline: process group {orphan.pid} on host " \
               f"{socket.gethostname()}" in r.err
        assert f"kill -TERM -{orphan.pid}" in r.err and "unlock long" in r.err
        # the live directory stays where it is, nothing went to the attic, nothing ran
        assert (live / "checkpoint").read_text() == "written by the orphan"
        assert not (tmp_path / ".attic").exists() and lock.exists()
        # `unlock` refuses it too; --force removes it
        r = dt("wf.tape", "-y", "unlock")
        assert r.rc == 1 and "Refusing to unlock" in r.err and str(orphan.pid) in r.err, r
        assert lock.exists()
        # a recorded pid now naming another process (other start time) is not a live holder
        orphan_lock(tmp_path, orphan.pid, "1")
        r = dt("wf.tape", "-y", "--dry-run")
        assert r.rc == 0 and "MOVE TO ATTIC" in r.err, r
    finally:
        orphan.kill()
        orphan.wait()


def test_unlock_refuses_a_lock_held_by_a_running_engine_unless_forced(tmp_path, dt, marker):
    (tmp_path / "wf.tape").write_text(LONG_TAPE)
    engine = start_engine(tmp_path, "wf.tape", "-y", marker=marker)
    lock = tmp_path / "long" / "Baseline.baseline.LOCK"
    try:
        assert wait_for(lambda: len(sleeps(marker)) == 2), engine
        r = dt("wf.tape", "-y", "unlock")
        assert r.rc == 1, r
        assert f"engine_pid={engine.pid}" in lock.read_text()
        assert "Refusing to unlock locks held by live processes" in r.err
        assert f"ducttape engine pid {engine.pid} on host {socket.gethostname()}" in r.err
        assert "--force" in r.err and lock.exists()
        # a second exec names who holds the lock
        r = dt("wf.tape", "-y")
        assert r.rc == 1 and f"ducttape engine pid {engine.pid}" in r.err, r
        r = dt("wf.tape", "-y", "unlock", "--force")
        assert r.rc == 0 and "UNLOCK: " in r.err and not lock.exists(), r
    finally:
        cleanup(marker, [engine])


def test_sighup_detaches_the_run_and_term_still_cancels_it(tmp_path, marker):
    """A lost terminal does not stop a run (as the workflow's Slurm submitter: a long run outlives
    the login that started it); the engine stays, so do its tasks; TERM then cancels them."""
    (tmp_path / "wf.tape").write_text(LONG_TAPE)
    engine = start_engine(tmp_path, "wf.tape", "-y", marker=marker)
    try:
        assert wait_for(lambda: len(sleeps(marker)) == 2), engine
        os.kill(engine.pid, signal.SIGHUP)
        time.sleep(1.0)
        assert engine.poll() is None and len(sleeps(marker)) == 2   # detached, still working
        log = next(tmp_path.rglob("ducttape.hangup.log")).read_text()
        assert "Hangup (SIGHUP)" in log and f"kill {engine.pid}" in log
        os.kill(engine.pid, signal.SIGTERM)
        engine.communicate(timeout=20)
        assert engine.returncode == 130
        assert wait_for(lambda: not marked(marker), timeout=5.0)
        assert not list(tmp_path.rglob("*.LOCK"))
        assert (tmp_path / "long" / "Baseline.baseline" / "ducttape_exit_code.txt").read_text() != "0"
        assert "Interrupted: stopping running tasks" in next(tmp_path.rglob("ducttape.hangup.log")).read_text()
    finally:
        cleanup(marker, [engine])


def test_failure_report_names_each_value_and_the_config_line_that_bound_it(tmp_path, dt, write):
    write("wf.tape", """\
        task prep > data :: n=(N: 1..3) {
          echo > $data
        }
        task train < data=@prep :: lr=@ epochs=$it_epochs size=(Size: small=s big=b) {
          echo "--lr $lr must be > 0" >&2
          exit 2
        }
        """)
    write("configs/mini.tconf", """\
        global {
          # the learning rate the task gets, through a second global
          lr=$it_lr
          it_lr=0
          it_epochs=(Ep: one=1 two=2)
        }
        """)
    r = dt("wf.tape", "-C", "configs/mini.tconf", "-y")
    assert r.rc == 1, r
    assert "--lr 0 must be > 0" in r.err
    assert "the values it received, and where they came from:" in r.err
    assert "lr=0  <- $lr (configs/mini.tconf:3) <- $it_lr (configs/mini.tconf:4)" in r.err
    assert ("epochs=1  <- $it_epochs (configs/mini.tconf:5) <- branch Ep.one "
            "(configs/mini.tconf:5)") in r.err
    assert "size=s  <- branch Size.small (wf.tape:4)" in r.err
    assert "data=" + str(tmp_path / "prep" / "Baseline.baseline" / "data") + \
           "  <- output data of task prep" in r.err


def test_unlock_of_a_lock_from_another_host_warns_and_names_its_holder(tmp_path, dt):
    (tmp_path / "wf.tape").write_text(LONG_TAPE)
    lock = tmp_path / "long" / "Baseline.baseline.LOCK"
    lock.parent.mkdir()
    lock.write_text("host=login-node-7\nboot=x\nengine_pid=4242\nengine_start=1\n"
                    "task_pgid=4250\ntask_start=2\n")
    r = dt("wf.tape", "-y")
    assert r.rc == 1, r
    assert "held by task process group 4250, ducttape engine pid 4242 on host login-node-7" in r.err
    r = dt("wf.tape", "-y", "unlock")
    assert r.rc == 0 and not lock.exists(), r
    assert "cannot be checked from this host" in r.err and "login-node-7" in r.err


SLOW_TO_STOP_TAPE = """\
task slow > out {
  trap 'sleep 1.5; exit 143' TERM   # like a trainer saving a checkpoint on TERM
  sleep 300 &
  wait
}
"""


def test_a_rerun_right_after_kill_9_waits_for_the_old_task_to_stop(tmp_path, marker):
    """The supervisor needs a moment to stop a task (TERM, a checkpoint, KILL after its grace):
    a rerun started at once waits for that instead of reporting another ducttape's locks."""
    (tmp_path / "wf.tape").write_text(SLOW_TO_STOP_TAPE)
    engine = start_engine(tmp_path, "wf.tape", "-y", marker=marker)
    try:
        assert wait_for(lambda: len(sleeps(marker)) == 1), engine
        old = {p.pid for p in sleeps(marker)}
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(5)
        again = start_engine(tmp_path, "wf.tape", "-y", marker=marker)  # at once
        try:
            wait_for(lambda: again.poll() is not None
                     or any(p.pid not in old for p in sleeps(marker)), timeout=25.0)
            assert again.poll() is None, again.communicate()
            time.sleep(0.5)
            running = sleeps(marker)
            assert len(running) == 1 and running[0].pid not in old   # one copy, the new one
        finally:
            again.terminate()
            _, err = again.communicate(timeout=30)
        assert "Waiting up to" in err and "another ducttape process" not in err, err
    finally:
        cleanup(marker, [engine])
