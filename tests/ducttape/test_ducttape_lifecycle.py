"""Run lifecycle: re-runs, failures and resume, the attic, maintenance modes, locks, -j, Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from dt_helpers import REPO

FAIL = """
    task a > x {
      echo run >> ../../a_runs.txt
      echo a > $x
    }
    task b < x=$x@a > y {
      echo partial > partial.txt
      false
      echo b > $y
    }
    task c < y=$y@b {
      cat $y
    }
    task d > z {
      echo d > $z
    }
    """


def listing_dirs(p):
    return sorted(os.listdir(p)) if p.exists() else []


def test_rerun_is_a_noop(tmp_path, dt, write):
    write("wf.tape", """
        task a > x :: n=(N: 1..3) {
          echo $n >> ../../runs.txt
          echo $n > $x
        }
        task b < x=$x@a {
          cat $x
        }
        """)
    r1 = dt("wf.tape", "-y")
    assert r1.rc == 0, r1
    runs = (tmp_path / "runs.txt").read_text()
    assert sorted(runs.split()) == ["1", "2", "3"]
    stamp = os.stat(tmp_path / "b" / "N.2" / "ducttape_stdout.txt").st_mtime_ns
    r2 = dt("wf.tape", "-y")
    assert r2.rc == 0 and "All tasks to complete -- nothing to do" in r2.err
    assert "RUN:" not in r2.err
    assert (tmp_path / "runs.txt").read_text() == runs
    assert os.stat(tmp_path / "b" / "N.2" / "ducttape_stdout.txt").st_mtime_ns == stamp
    assert listing_dirs(tmp_path / ".versions") == ["1"]
    # without -y and with nothing to do there is no prompt either
    assert dt("wf.tape").rc == 0


def test_failure_then_fix_then_resume(tmp_path, dt, write):
    write("fail.tape", FAIL)
    r = dt("fail.tape", "-y", "-O", "out")
    assert r.rc == 1, r
    out = tmp_path / "out"
    assert "Failed b/Baseline.baseline/1" in r.err
    assert "The following tasks failed:" in r.err
    assert f"FAILED: b/Baseline.baseline/1 in {out}/b/Baseline.baseline" in r.err
    assert "ERROR: Task b/Baseline.baseline/1 failed" in r.err
    # -j 1 stops at the first failure: neither the child c nor the independent d ran
    assert not (out / "c" / "Baseline.baseline").exists()
    assert not (out / "d" / "Baseline.baseline").exists()
    bdir = out / "b" / "Baseline.baseline"
    assert (bdir / "ducttape_exit_code.txt").read_text() == "1"
    assert (bdir / "partial.txt").exists()
    assert not list(out.rglob("*.LOCK"))
    a_stamp = os.stat(out / "a" / "Baseline.baseline" / "x").st_mtime_ns

    # the failed task is never complete: list it as incomplete, prompt; 'n' does nothing
    r = dt("fail.tape", "-O", "out", stdin="n\n")
    assert r.rc == 0 and "Doing nothing" in r.err
    assert "Task incomplete" in r.err and "Non-zero exit code" in r.err
    assert "MOVE TO ATTIC: " + str(bdir) in r.err
    # EOF at the prompt = no, with a hint
    r = dt("fail.tape", "-O", "out", stdin="")
    assert r.rc == 1 and "-y" in r.err and "Doing nothing" in r.err
    assert (bdir / "partial.txt").exists()

    (tmp_path / "fail.tape").write_text((tmp_path / "fail.tape").read_text()
                                        .replace("  false\n", ""))
    r = dt("fail.tape", "-y", "-O", "out")
    assert r.rc == 0, r
    assert "RUN: " + str(out / "a") not in r.err
    assert "All tasks completed successfully" in r.err
    # upstream untouched, failed output in the attic, downstream ran
    assert (out / "a_runs.txt").read_text() == "run\n"
    assert os.stat(out / "a" / "Baseline.baseline" / "x").st_mtime_ns == a_stamp
    attic = out / ".attic" / "2" / "b" / "Baseline.baseline"
    assert (attic / "partial.txt").read_text() == "partial\n"
    assert (attic / "ducttape_exit_code.txt").read_text() == "1"
    assert (bdir / "y").read_text() == "b\n"
    assert (out / "c" / "Baseline.baseline" / "ducttape_stdout.txt").read_text() == "b\n"
    assert (out / "d" / "Baseline.baseline" / "z").exists()
    assert listing_dirs(out / ".versions") == ["1", "2"]


def test_parallel_run_keeps_going_after_a_failure(tmp_path, dt, write):
    write("fail.tape", FAIL)
    r = dt("fail.tape", "-y", "-j", "2", "-O", "out")
    assert r.rc == 1
    out = tmp_path / "out"
    assert (out / "d" / "Baseline.baseline" / "z").read_text() == "d\n"
    assert not (out / "c" / "Baseline.baseline").exists()
    assert "Not run because an upstream task failed: c/Baseline.baseline" in r.err


def test_missing_output_is_a_failure(tmp_path, dt, write):
    write("wf.tape", "task t > out {\n  true\n}\n")
    r = dt("wf.tape", "-y")
    assert r.rc == 1
    d = tmp_path / "t" / "Baseline.baseline"
    assert f"{d}/out does not exist" in r.err
    assert "did not satisfy post-conditions" in r.err
    assert (d / "ducttape_exit_code.txt").read_text() == "0"
    r = dt("wf.tape", "-y")
    assert r.rc == 1 and f"Task incomplete: {d} (Baseline.baseline): {d}/out does not exist" in r.err
    assert (tmp_path / ".attic" / "2" / "t" / "Baseline.baseline").is_dir()


def test_missing_input_stops_before_anything_runs(tmp_path, dt, write):
    write("wf.tape", """
        task first > x {
          echo > $x
        }
        task t < in=nonexistent.txt {
          cat $in
        }
        """)
    r = dt("wf.tape", "-y", "-O", "out")
    assert r.rc == 1
    assert f"Input file not found: {tmp_path}/nonexistent.txt required at" in r.err
    assert "wf.tape:5" in r.err and "1 error" in r.err
    assert not (tmp_path / "out").exists()


def test_invalidate_includes_descendants(tmp_path, dt, write):
    write("fail.tape", FAIL.replace("      false\n", ""))
    assert dt("fail.tape", "-y", "-O", "out").rc == 0
    out = tmp_path / "out"
    r = dt("fail.tape", "-O", "out", "-y", "invalidate", "a", "*")
    assert r.rc == 0, r
    for t in "abc":
        assert (out / t / "Baseline.baseline" / "ducttape.INVALIDATED").exists()
        assert f"Invalidating {t}/Baseline.baseline" in r.err
    assert not (out / "d" / "Baseline.baseline" / "ducttape.INVALIDATED").exists()
    r = dt("fail.tape", "-O", "out", "-y")
    assert r.rc == 0
    for t in "abc":
        assert f"RUN: {out}/{t}/Baseline.baseline" in r.err
        assert not (out / t / "Baseline.baseline" / "ducttape.INVALIDATED").exists()
    assert f"RUN: {out}/d/" not in r.err
    assert (out / "a_runs.txt").read_text() == "run\nrun\n"
    assert sorted(os.listdir(out / ".attic" / "2")) == ["a", "b", "c"]


def test_purge(tmp_path, dt, write):
    write("fail.tape", FAIL.replace("      false\n", ""))
    assert dt("fail.tape", "-y", "-O", "out").rc == 0
    out = tmp_path / "out"
    r = dt("fail.tape", "-O", "out", "purge", "b", "*", stdin="y\n")
    assert r.rc == 0, r
    assert "Are you sure you want to move these 2 tasks to the attic?" in r.err
    assert f"Moved b/Baseline.baseline to the attic: {out}/.attic/2/b/Baseline.baseline" in r.err
    assert f"Moved c/Baseline.baseline to the attic: {out}/.attic/2/c/Baseline.baseline" in r.err
    assert not (out / "b" / "Baseline.baseline").exists()
    assert not (out / "c" / "Baseline.baseline").exists()
    assert (out / "a" / "Baseline.baseline").exists()
    r = dt("fail.tape", "-O", "out", "-y")
    assert r.rc == 0 and (out / "c" / "Baseline.baseline").exists()


def test_mark_done(tmp_path, dt, write):
    write("wf.tape", """
        task a > x {
          echo a > $x
          exit 3
        }
        task b < x=$x@a {
          cat $x
        }
        """)
    assert dt("wf.tape", "-y").rc == 1
    r = dt("wf.tape", "-y", "mark_done", "a")
    assert r.rc == 0, r
    d = tmp_path / "a" / "Baseline.baseline"
    assert (d / "ducttape_exit_code.txt").read_text() == "0"
    r = dt("wf.tape", "-y")
    assert r.rc == 0 and f"RUN: {tmp_path}/a/" not in r.err
    assert (tmp_path / "b" / "Baseline.baseline" / "ducttape_stdout.txt").read_text() == "a\n"
    # refuses when declared outputs are missing
    write("wf2.tape", "task t > out {\n  exit 1\n}\n")
    assert dt("wf2.tape", "-y", "-O", "o2").rc == 1
    r = dt("wf2.tape", "-y", "-O", "o2", "mark_done")
    assert r.rc == 1 and "missing outputs" in r.err
    assert (tmp_path / "o2" / "t" / "Baseline.baseline" / "ducttape_exit_code.txt").read_text() == "1"


def test_stale_lock_blocks_until_unlock(tmp_path, dt, write):
    write("wf.tape", "task a > x {\n  echo > $x\n}\n")
    (tmp_path / "a").mkdir()
    lock = tmp_path / "a" / "Baseline.baseline.LOCK"
    lock.write_text("")
    r = dt("wf.tape", "-y")
    assert r.rc == 1 and "another ducttape process currently holds locks" in r.err
    assert "unlock" in r.err
    assert not (tmp_path / "a" / "Baseline.baseline").exists()
    r = dt("wf.tape", "-y", "unlock")
    assert r.rc == 0 and "UNLOCK: " in r.err and not lock.exists()
    assert dt("wf.tape", "-y").rc == 0


def test_lock_of_dead_process_on_this_host_is_taken_over(tmp_path, dt, write):
    write("wf.tape", "task a > x {\n  echo > $x\n}\n")
    (tmp_path / "a").mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "a" / "Baseline.baseline.LOCK").write_text(f"{socket.gethostname()}:{dead.pid}")
    r = dt("wf.tape", "-y")
    assert r.rc == 0, r
    assert "stale lock" in r.err
    assert not list(tmp_path.rglob("*.LOCK"))


def test_live_lock_and_multiproc(tmp_path, dt, write):
    tape = """
        task slow > x {
          sleep 2
          echo done > $x
        }
        """
    write("wf.tape", tape)
    write("mp.tape", tape + "global {\n  ducttape_experimental_multiproc=true\n}\n")
    env = dict(os.environ, PYTHONPATH=REPO, DUCTTAPE_NO_USER_CONFIG="1")
    first = subprocess.Popen([sys.executable, "-m", "ducttape", "wf.tape", "-y"], cwd=tmp_path,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lock = tmp_path / "slow" / "Baseline.baseline.LOCK"
    for _ in range(100):
        if (tmp_path / "slow" / "Baseline.baseline").exists():
            break
        time.sleep(0.05)
    assert lock.exists()
    r = dt("wf.tape", "-y")
    assert r.rc == 1 and "another ducttape process currently holds locks" in r.err
    r = dt("mp.tape", "-y")
    assert r.rc == 0, r
    assert "WAIT FOR LOCK" in r.err and "completed by another process" in r.err
    assert first.wait(30) == 0
    assert (tmp_path / "slow" / "Baseline.baseline" / "x").read_text() == "done\n"
    assert not lock.exists()


def test_parallel_equals_serial(tmp_path, dt, write):
    tape = """
        task src > out :: n=(N: 1..4) {
          seq 1 $n > $out
        }
        task left < in=$out@src > out :: k=(K: a b) {
          sed "s/^/$k/" $in > $out
        }
        task right < in=$out@src > out {
          tac $in > $out
        }
        task join < l=$out@left r=$out@right > out {
          paste $l $r > $out
        }
        plan All {
          reach join via (N: *) * (K: *)
        }
        """
    write("wf.tape", tape)
    r1 = dt("wf.tape", "-y", "-O", "j1")
    r4 = dt("wf.tape", "-y", "-j", "4", "-O", "j4")
    assert r1.rc == 0 and r4.rc == 0
    files = lambda root: {str(p.relative_to(root)): (p.read_text() if p.is_file() else
                                                     os.readlink(p))
                          for p in root.rglob("*")
                          if (p.is_file() or p.is_symlink()) and ".versions" not in p.parts
                          and p.name != "ducttape_task.sh"}
    f1, f4 = files(tmp_path / "j1"), files(tmp_path / "j4")
    assert len([k for k in f1 if k.endswith("/out")]) == 4 + 8 + 4 + 8
    for k in f1:
        if k.endswith("ducttape_stdout.txt") or "/out" in k:
            assert f1[k] == f4[k], k
    assert f1.keys() == f4.keys()


def test_task_environment(tmp_path, dt, write):
    write("in.txt", "x\n")
    write("c.tconf", "global {\n  g=from_config\n}\n")
    write("wf.tape", """
        task env_check < in=in.txt > out :: p=(P: one two) q=$g .dot="dotted" {
          echo "TASK=$TASK REALIZATION=$REALIZATION CONFIGURATION=$CONFIGURATION"
          echo "pwd=$PWD"
          echo "in=$in out=$out p=$p q=$q dot=$dot"
          echo "flags=$-"
          shopt -o pipefail | tr -s ' \\t' ' '
          if read -r line; then echo "stdin=$line"; else echo "stdin empty"; fi
          echo ok > $out
        }
        task unset_var {
          echo $not_defined_anywhere
        }
        task pipe_fails {
          false | true
        }
        """)
    r = dt("wf.tape", "-C", "c.tconf", "-y", "-j", "3")
    d = tmp_path / "env_check" / "P.two"
    lines = (d / "ducttape_stdout.txt").read_text().splitlines()
    assert lines[0] == "TASK=env_check REALIZATION=P.two CONFIGURATION=c"
    assert lines[1] == f"pwd={d}"
    assert lines[2] == f"in={tmp_path}/in.txt out={d}/out p=two q=from_config dot=dotted"
    assert "e" in lines[3].split("=")[1] and "u" in lines[3].split("=")[1]
    assert lines[4] == "pipefail on"
    assert lines[5] == "stdin empty"
    assert (tmp_path / "unset_var" / "Baseline.baseline" / "ducttape_exit_code.txt").read_text() != "0"
    assert (tmp_path / "pipe_fails" / "Baseline.baseline" / "ducttape_exit_code.txt").read_text() != "0"
    script = (d / "ducttape_task.sh").read_text()
    assert script.startswith("# This script will try to run a task *outside* any specified submitter")
    assert f"export in='{tmp_path}/in.txt'" in script and "export dot='dotted'" in script
    assert f"env_check/P.two: pwd={d}" in r.out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_tasks_and_leaves_nothing_complete(tmp_path, write, sig):
    write("wf.tape", """
        task slow > x {
          echo started
          sleep 30
          echo done > $x
        }
        """)
    env = dict(os.environ, PYTHONPATH=REPO, DUCTTAPE_NO_USER_CONFIG="1")
    p = subprocess.Popen([sys.executable, "-m", "ducttape", "wf.tape", "-y"], cwd=tmp_path,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    d = tmp_path / "slow" / "Baseline.baseline"
    # wait for the task itself to have started (a deadline, not a count: on a loaded machine the
    # engine's start-up alone can take more than 10 s, and an early SIGINT tests something else)
    deadline = time.time() + 90
    while time.time() < deadline:
        if (d / "ducttape_stdout.txt").exists() and (d / "ducttape_stdout.txt").read_text():
            break
        time.sleep(0.05)
    else:
        p.kill()
        pytest.fail("the task did not start within 90 s")
    t0 = time.time()
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    assert time.time() - t0 < 10
    assert p.returncode == 130, err
    assert "Interrupted" in err
    assert (d / "ducttape_exit_code.txt").read_text() != "0"
    assert not (d / "x").exists()
    assert not list(tmp_path.rglob("*.LOCK"))
    r = subprocess.run([sys.executable, "-m", "ducttape", "wf.tape", "list"], cwd=tmp_path,
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0
    r = subprocess.run([sys.executable, "-m", "ducttape", "wf.tape", "--dry-run"], cwd=tmp_path,
                       env=env, capture_output=True, text=True)
    assert "Task incomplete" in r.stderr and "MOVE TO ATTIC" in r.stderr


def test_a_run_leaves_the_signal_handlers_as_it_found_them(tmp_path, write, monkeypatch):
    """The scheduler traps SIGINT and SIGTERM while tasks run (a flag, checked by its loop); an
    embedding program (a notebook, a test runner) must get its own handlers back afterwards."""
    from ducttape.cli import main
    write("wf.tape", """
        task a > x {
          echo a > $x
        }
        """)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUCTTAPE_NO_USER_CONFIG", "1")
    mine = lambda signum, frame: None  # noqa: E731
    old = signal.signal(signal.SIGTERM, mine)
    try:
        before = signal.getsignal(signal.SIGINT)
        assert main(["wf.tape", "-y"]) == 0
        assert (tmp_path / "a" / "Baseline.baseline" / "x").read_text() == "a\n"
        assert signal.getsignal(signal.SIGINT) is before
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)


def test_parallel_runs_start_the_longest_downstream_chain_first(tmp_path, dt, write):
    """With -j 2 the task that most others wait for starts first, whatever the traversal order;
    with -j 1 the order stays ducttape 0.3's depth-first order."""
    write("wf.tape", """
        task leaf > out :: n=(N: 1 2 3 4) {
          echo $n > $out
        }
        task head > out {
          echo head > $out
        }
        task mid < in=$out@head > out {
          cat $in > $out
        }
        task tail1 < in=$out@mid > out {
          cat $in > $out
        }
        task tail2 < in=$out@mid > out {
          cat $in > $out
        }
        plan All {
          reach leaf via (N: *)
          reach tail1, tail2
        }
        """)
    started = lambda r: [line.split()[1].split("/")[0] for line in r.err.splitlines()
                         if line.startswith("Running ")]
    r2 = dt("wf.tape", "-y", "-j", "2", "-O", "j2")
    assert r2.rc == 0, r2
    # the first pick, with both slots free, is head (3 tasks wait on it); the two first picks
    # start at once and log "Running" from their own threads, in either order
    assert "head" in started(r2)[:2]
    r1 = dt("wf.tape", "-y", "-O", "j1")
    assert r1.rc == 0, r1
    order = started(r1)
    assert order.index("leaf") < order.index("head")  # depth-first order of the plan, as in 0.3
