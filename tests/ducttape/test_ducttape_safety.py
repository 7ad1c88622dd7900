"""Engine safety (issue 31): invalidation reaches every descendant on disk whatever -p says,
purge never deletes and needs a task name, resumable state goes to the attic with its task,
outputs stay in their task directory, and the messages of bad input say what is wrong where."""
import os
import subprocess

CHAIN = """
task Train > model :: lr=(LR: a=1 b=2) {
  echo $lr > $model
}
task Decode < model=@Train > hyp {
  cat $model > $hyp
}
task Score < hyp=@Decode > scores {
  cat $hyp > $scores
}
task Other > x {
  echo > $x
}
plan ablations {
  reach Train via (LR: b)
}
plan eval {
  reach Score, Other via (LR: *)
}
"""


def _run_eval(tmp_path, dt, write):
    write("wf.tape", CHAIN)
    r = dt("wf.tape", "-p", "eval", "-O", "out", "-y")
    assert r.rc == 0, r
    return tmp_path / "out"


def test_invalidate_under_one_plan_reaches_descendants_of_other_plans(tmp_path, dt, write):
    out = _run_eval(tmp_path, dt, write)
    ckpt = out / ".resume" / "Train" / "LR.b" / "checkpoint-1"
    ckpt.mkdir(parents=True)
    r = dt("wf.tape", "-p", "ablations", "-O", "out", "-y", "invalidate", "Train", "LR.b")
    assert r.rc == 0, r
    for task in ("Train", "Decode", "Score"):
        assert (out / task / "LR.b" / "ducttape.INVALIDATED").exists(), (task, r)
        assert (f"INVALIDATE: {out}/{task}/LR.b (LR.b)") in r.err
    for task in ("Train", "Decode", "Score"):  # the other variant is untouched
        assert not (out / task / "Baseline.baseline" / "ducttape.INVALIDATED").exists()
    assert not (out / "Other" / "Baseline.baseline" / "ducttape.INVALIDATED").exists()
    assert f"{out}/Score/LR.b (LR.b) [downstream, outside the selected plans]" in r.err
    assert ("3 task(s) to invalidate: 1 matched, 2 downstream (2 outside the selected plans: "
            "1 Decode, 1 Score)") in r.err
    # the checkpoint went to the attic: the next run of Train starts from step 0
    assert not (out / ".resume" / "Train" / "LR.b").exists()
    assert (out / ".attic" / "2" / ".resume" / "Train" / "LR.b" / "checkpoint-1").is_dir()
    r = dt("wf.tape", "-p", "eval", "-O", "out", "list")
    assert r.out.splitlines().count("Score LR.b to-run") == 1, r
    assert "Score Baseline.baseline done" in r.out.splitlines()


def test_bare_purge_refuses_and_names_what_it_would_move(tmp_path, dt, write):
    out = _run_eval(tmp_path, dt, write)
    before = sorted(p.name for p in (out / "Score").iterdir())
    r = dt("wf.tape", "-O", "out", "-y", "purge")
    assert r.rc == 1, r
    assert "purge without a task name matches every planned task: it would move 7 task " \
           "directories" in r.err
    assert "2 Train, 2 Decode, 2 Score, 1 Other" in r.err and "purge '*'" in r.err
    assert sorted(p.name for p in (out / "Score").iterdir()) == before
    assert not (out / ".attic").exists()


def test_purge_moves_to_the_attic_with_the_resumable_state(tmp_path, dt, write):
    out = _run_eval(tmp_path, dt, write)
    (out / ".resume" / "Decode" / "LR.b").mkdir(parents=True)
    r = dt("wf.tape", "-p", "eval", "-O", "out", "-y", "purge", "Decode", "LR.b")
    assert r.rc == 0, r
    assert "2 task(s) to purge (1 Decode, 1 Score)" in r.err
    attic = out / ".attic" / "2"
    assert (attic / "Decode" / "LR.b" / "hyp").read_text() == "2\n"  # kept, not deleted
    assert (attic / "Score" / "LR.b" / "scores").read_text() == "2\n"
    assert (attic / ".resume" / "Decode" / "LR.b").is_dir()
    assert not (out / "Decode" / "LR.b").exists() and not (out / ".resume" / "Decode" / "LR.b").exists()
    assert (out / "Decode" / "Baseline.baseline" / "hyp").exists()
    assert f"Purged 2 task(s) into {attic}" in r.err
    r = dt("wf.tape", "-p", "eval", "-O", "out", "-y", "purge", "*")
    assert r.rc == 0 and "5 task(s) to purge" in r.err, r


def test_an_output_outside_its_task_directory_is_a_load_error(tmp_path, dt, write):
    for value in ("/abs/path.txt", "../../y", "sub/../../z"):
        write("wf.tape", f"""
            task ok > a {{
              echo > $a
            }}
            task t > x={value} {{
              echo > $x
            }}
            """)
        r = dt("wf.tape", "list")
        assert r.rc == 1, r
        assert f"wf.tape:5:10: Output 'x' of task 't' resolves outside its task directory: " \
               f"{value}" in r.err
        assert "a path inside the task directory" in r.err and "make it an input" in r.err
    write("wf.tape", "task t > x=sub/./x.txt {\n  mkdir -p sub; echo > $x\n}\n")
    assert dt("wf.tape", "-y").rc == 0


def test_unclosed_global_block_is_reported_where_it_opens(dt, write):
    write("wf.tape", """
        global {
          x=1

        task t > o {
          echo $x > $o
        }
        """)
    r = dt("wf.tape", "list")
    assert r.rc == 1
    assert "wf.tape:2:1: Unclosed global block: no '}' before the 'task' at wf.tape:5" in r.err, r
    # an assignment named like a block keyword is still an assignment
    write("wf.tape", "global {\n  task=1\n  plan = 2\n}\ntask t :: task=@ {\n  echo $task\n}\n")
    assert dt("wf.tape", "list").rc == 0


def test_output_dir_that_is_a_file_is_an_error_at_start(tmp_path, dt, write):
    write("wf.tape", "task t > o {\n  echo > $o\n}\n")
    (tmp_path / "afile").write_text("x")
    for mode in ("list", "exec"):
        r = dt("wf.tape", "-O", "afile", "-y", mode)
        assert r.rc == 1, r
        assert "Output directory afile (from -O) is a regular file, not a directory" in r.err
        assert "to run" not in r.err and "Errno" not in r.err
    r = dt("wf.tape", "-O", "afile/sub", "list")
    assert r.rc == 1 and f"is under {tmp_path}/afile, which is a regular file" in r.err


def test_branch_name_with_a_slash_says_so(dt, write):
    write("wf.tape", "task t :: p=(BP: a/b=1 c=2) {\n  echo $p\n}\n")
    r = dt("wf.tape", "list")
    assert r.rc == 1
    assert "wf.tape:1:18: Branch name 'a/b' of branch point 'BP' may not contain '/'" in r.err, r
    assert "a_b=" in r.err and "= symbol" not in r.err
    write("wf.tape", "task t :: p=(BP: a/b c) {\n  echo $p\n}\n")
    r = dt("wf.tape", "list")
    assert r.rc == 1 and "Branch name 'a/b' may not contain '/'" in r.err, r


def test_archival_task_script_run_by_hand_expands_nothing(tmp_path, dt, write):
    write("wf.tape", """
        task t > o :: v="$(touch pwned)" w="it's `touch pwned2` \\\\ \\"q\\" $HOME" {
          echo "$v" > $o
        }
        """)
    r = dt("wf.tape", "-O", "out", "-y")
    assert r.rc == 0, r
    d = tmp_path / "out" / "t" / "Baseline.baseline"
    assert (d / "o").read_text() == "$(touch pwned)\n"
    script = (d / "ducttape_task.sh").read_text()
    assert "export v='$(touch pwned)'" in script
    got = subprocess.run(["bash", "-c", f"source {d}/ducttape_task.sh >/dev/null; "
                          "printf '%s|%s' \"$v\" \"$w\""], cwd=tmp_path, capture_output=True,
                         text=True)
    assert got.stdout == "$(touch pwned)|it's `touch pwned2` \\ \"q\" $HOME", got
    assert not any((tmp_path / n).exists() for n in ("pwned", "pwned2"))
    assert not any(os.path.exists(d / n) for n in ("pwned", "pwned2"))


def test_invalidate_and_purge_refuse_a_running_task(tmp_path, dt, write):
    import fcntl
    out = _run_eval(tmp_path, dt, write)
    lock = out / "Score" / "LR.b.LOCK"
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # as a live engine running Score/LR.b holds it
        for mode in ("invalidate", "purge"):
            r = dt("wf.tape", "-p", "eval", "-O", "out", "-y", mode, "Decode", "LR.b")
            assert r.rc == 1, r
            assert f"{mode}: 1 matching task(s) are running now" in r.err and "Score/LR.b" in r.err
    assert (out / "Decode" / "LR.b" / "hyp").exists()
    assert not (out / "Decode" / "LR.b" / "ducttape.INVALIDATED").exists()
