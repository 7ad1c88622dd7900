"""The lessons of ducttape's tutorial (spec §7.1), re-expressed as our own tapes.

Each lesson runs with ``-y -O OUT`` and is checked for directory names, symlinks, output
contents and stdout; every lesson is then re-run, which must be a no-op.
"""

import gzip
import os
import stat

import pytest

BOOK = {"ducttape_exit_code.txt", "ducttape_stdout.txt", "ducttape_stderr.txt", "ducttape_task.sh"}


def run_lesson(dt, write, tape, *extra, conf=None, env=None):
    write("lesson.tape", tape)
    args = ["lesson.tape"]
    if conf:
        write("lesson.tconf", conf)
        args += ["-C", "lesson.tconf"]
    r = dt(*args, "-y", "-O", "OUT", *extra, env=env)
    assert r.rc == 0, r
    return r


def check_common(tmp_path, dt, *extra, env=None):
    out = tmp_path / "OUT"
    for n in ("workflow.tape", "pid.txt", "manifest.txt"):
        assert (out / ".versions" / "1" / n).is_file()
    assert not (out / ".attic").exists()
    assert not list(out.rglob("*.LOCK"))
    for ec in out.rglob("ducttape_exit_code.txt"):
        assert ec.read_text() == "0"
        assert BOOK <= set(os.listdir(ec.parent))
    args = ["lesson.tape"] + (["-C", "lesson.tconf"] if (tmp_path / "lesson.tconf").exists() else [])
    r = dt(*args, "-y", "-O", "OUT", *extra, env=env)
    assert r.rc == 0, r
    assert "All tasks to complete -- nothing to do" in r.err
    assert not (out / ".versions" / "2").exists()


def stdout_of(d):
    return (d / "ducttape_stdout.txt").read_text()


FLAT = "global {\n  ducttape_structure=flat\n}\n"


def test_01_hello_world(tmp_path, dt, write):
    run_lesson(dt, write, FLAT + """
        task hello_world {
          echo hi
          echo hello >&2
        }
        """)
    d = tmp_path / "OUT" / "hello_world"
    assert stdout_of(d) == "hi\n"
    assert (d / "ducttape_stderr.txt").read_text() == "hello\n"
    assert set(os.listdir(d)) == BOOK
    check_common(tmp_path, dt)


def test_02_outputs(tmp_path, dt, write, data):
    run_lesson(dt, write, FLAT + """
        task hello_world_2 > x y_txt {
          echo writing files $x and $y_txt...
          echo hello > $x
          echo world > $y_txt
        }
        task named_output < x=small.txt > named=x.gz {
          gzip < $x > $named
        }
        """)
    out = tmp_path / "OUT"
    d = out / "hello_world_2"
    assert (d / "x").read_text() == "hello\n" and (d / "y_txt").read_text() == "world\n"
    assert stdout_of(d) == f"writing files {out}/hello_world_2/x and {out}/hello_world_2/y_txt...\n"
    assert gzip.decompress((out / "named_output" / "x.gz").read_bytes()) == \
        (tmp_path / "small.txt").read_bytes()
    check_common(tmp_path, dt)


def test_03_inputs(tmp_path, dt, write, data):
    run_lesson(dt, write, FLAT + """
        task hello_world_3 < a=small.txt b=/etc/passwd {
          echo "I will be reading files called $a and $b and doing nothing useful with them"
        }
        """)
    assert stdout_of(tmp_path / "OUT" / "hello_world_3") == (
        f"I will be reading files called {tmp_path}/small.txt and /etc/passwd and doing "
        "nothing useful with them\n")
    check_common(tmp_path, dt)


def test_04_dependencies(tmp_path, dt, write):
    r = run_lesson(dt, write, FLAT + """
        task first > x {
          for i in {1..10}; do echo $i >> $x; done
        }
        task and_then < a=$x@first > x {
          cat < $a > $x
        }
        """)
    out = tmp_path / "OUT"
    expect = "".join(f"{i}\n" for i in range(1, 11))
    assert (out / "first" / "x").read_text() == expect
    assert (out / "and_then" / "x").read_text() == expect
    assert r.err.index("Completed first") < r.err.index("Running and_then")
    check_common(tmp_path, dt)


def test_05_params(tmp_path, dt, write, data):
    run_lesson(dt, write, FLAT + """
        task param_step < in=big.txt > out :: N=5 {
          echo "$in has $(wc -l < $in) lines"
          echo "The parameter N is $N"
          echo $N > $out
        }
        task no_dep :: X=$N@param_step {
          echo "X=$X"
        }
        """)
    out = tmp_path / "OUT"
    assert (out / "param_step" / "out").read_text() == "5\n"
    assert stdout_of(out / "param_step") == f"{tmp_path}/big.txt has 100 lines\nThe parameter N is 5\n"
    assert stdout_of(out / "no_dep") == "X=5\n"
    r = dt("lesson.tape", "-O", "OUT", "viz")
    assert "->" not in r.out  # a param reference is not a dependency
    check_common(tmp_path, dt)


def test_08_config_extern(tmp_path, dt, write):
    run_lesson(dt, write, FLAT + """
        task hello_external_world :: who=$someone {
          echo hello $who
          echo "config=$CONFIGURATION" >&2
        }
        """, conf="""
        global {
          someone=world
        }
        """)
    d = tmp_path / "OUT" / "hello_external_world"
    assert stdout_of(d) == "hello world\n"
    assert (d / "ducttape_stderr.txt").read_text() == "config=lesson\n"
    check_common(tmp_path, dt)


def test_09_globals(tmp_path, dt, write):
    run_lesson(dt, write, FLAT + """
        task hello_global_world :: a=$greeting b=@ {
          echo $a $b
        }
        global {
          greeting=hello
          b=world
        }
        """)
    assert stdout_of(tmp_path / "OUT" / "hello_global_world") == "hello world\n"
    check_common(tmp_path, dt)


def test_11_shorthand_variables(tmp_path, dt, write):
    run_lesson(dt, write, """
        global {
          msg="hello, world"
        }
        task hello :: msg=@ {
          echo $msg
        }
        task prev :: a=42 {
          echo $a
        }
        task next :: a=@prev {
          echo $a
        }
        """)
    out = tmp_path / "OUT"
    assert stdout_of(out / "hello" / "Baseline.baseline") == "hello, world\n"
    assert stdout_of(out / "prev" / "Baseline.baseline") == "42\n"
    assert stdout_of(out / "next" / "Baseline.baseline") == "42\n"
    r = dt("lesson.tape", "-O", "OUT", "viz")
    assert "->" not in r.out
    check_common(tmp_path, dt)


def is_link_to(p, target):
    return p.is_symlink() and os.readlink(p) == target


HYPER = """
    task has_branches < in=(WhichSize: smaller=small.txt bigger=big.txt) > out {
      cat < $in > $out
    }
    task parent_has_branches < in=$out@has_branches {
      echo "$(wc -l < $in) $in"
    }
    """


def test_31_hello_hyper(tmp_path, dt, write, data):
    run_lesson(dt, write, HYPER)
    out = tmp_path / "OUT"
    for t in ("has_branches", "parent_has_branches"):
        assert sorted(os.listdir(out / t)) == ["Baseline.baseline", "WhichSize.bigger",
                                               "WhichSize.smaller"]
        assert is_link_to(out / t / "WhichSize.smaller", "Baseline.baseline")
    assert (out / "has_branches" / "Baseline.baseline" / "out").read_text() == \
        (tmp_path / "small.txt").read_text()
    assert (out / "has_branches" / "WhichSize.bigger" / "out").read_text() == \
        (tmp_path / "big.txt").read_text()
    assert stdout_of(out / "parent_has_branches" / "Baseline.baseline") == \
        f"5 {out}/has_branches/Baseline.baseline/out\n"
    assert stdout_of(out / "parent_has_branches" / "WhichSize.bigger") == \
        f"100 {out}/has_branches/WhichSize.bigger/out\n"
    check_common(tmp_path, dt)


def test_32_one_off(tmp_path, dt, write, data):
    r = run_lesson(dt, write, """
        task one_off_1 < in=(WhichSize: smaller=small.txt bigger=big.txt) > out {
          cat < $in > $out
        }
        task one_off_2 < in=$out@one_off_1 :: N=(N: one=1 two=2) {
          head -n $N $in
        }
        """)
    assert "one-off" in r.err
    out = tmp_path / "OUT"
    dirs = lambda t: sorted(n for n in os.listdir(out / t) if not (out / t / n).is_symlink())
    assert dirs("one_off_1") == ["Baseline.baseline", "WhichSize.bigger"]
    assert dirs("one_off_2") == ["Baseline.baseline", "N.two", "WhichSize.bigger"]
    assert not (out / "one_off_2" / "N.two+WhichSize.bigger").exists()
    assert stdout_of(out / "one_off_2" / "Baseline.baseline") == "1\n"
    assert stdout_of(out / "one_off_2" / "N.two") == "1\n2\n"
    assert stdout_of(out / "one_off_2" / "WhichSize.bigger") == "1\n"
    assert is_link_to(out / "one_off_1" / "WhichSize.smaller", "Baseline.baseline")
    assert is_link_to(out / "one_off_2" / "N.one+WhichSize.smaller", "Baseline.baseline")
    assert is_link_to(out / "one_off_2" / "N.two+WhichSize.smaller", "N.two")
    assert is_link_to(out / "one_off_2" / "N.one+WhichSize.bigger", "WhichSize.bigger")
    check_common(tmp_path, dt)


def test_33_sequences(tmp_path, dt, write):
    run_lesson(dt, write, """
        task run_several_times > x :: trial=(WhichTrial: 1..10) {
          echo $RANDOM > $x
          echo "trial=$trial"
        }
        """)
    out = tmp_path / "OUT" / "run_several_times"
    names = sorted(n for n in os.listdir(out) if not (out / n).is_symlink())
    assert names == sorted(["Baseline.baseline"] + [f"WhichTrial.{i}" for i in range(2, 11)])
    assert is_link_to(out / "WhichTrial.1", "Baseline.baseline")
    for i in range(1, 11):
        d = out / ("Baseline.baseline" if i == 1 else f"WhichTrial.{i}")
        assert 0 <= int((d / "x").read_text()) <= 32767
        assert stdout_of(d) == f"trial={i}\n"
    check_common(tmp_path, dt)


PLANS = """
    task planned_1 < in=(WhichSize: smaller=small.txt bigger=big.txt) > out {
      cat < $in > $out
    }
    task planned_2 < in=$out@planned_1 :: N=(N: one=1 two=2) M=(M: 1..10) {
      head -n $N < $in \\
        | head -n $M
    }
    plan Basics {
      # the cross product of all N and M with the smaller file
      reach planned_2 via (WhichSize: smaller) * (N: one two) * (M: 1..10)
      # two goals (planned_1 is a parent anyway)
      reach planned_1, planned_2 via (WhichSize: bigger) * (N: one) * (M: 2 8)
      reach planned_2 via (WhichSize: bigger) * (N: *) * (M: 1)
    }
    """


def test_34_realization_plans(tmp_path, dt, write, data):
    run_lesson(dt, write, PLANS)
    out = tmp_path / "OUT"
    dirs = lambda t: sorted(n for n in os.listdir(out / t) if not (out / t / n).is_symlink())
    assert dirs("planned_1") == ["Baseline.baseline", "WhichSize.bigger"]
    expect = (["Baseline.baseline", "N.two"] + [f"M.{m}" for m in range(2, 11)]
              + [f"M.{m}+N.two" for m in range(2, 11)]
              + ["M.2+WhichSize.bigger", "M.8+WhichSize.bigger", "WhichSize.bigger",
                 "N.two+WhichSize.bigger"])
    assert dirs("planned_2") == sorted(expect) and len(expect) == 24
    assert stdout_of(out / "planned_2" / "M.5+N.two") == "1\n2\n"
    assert stdout_of(out / "planned_2" / "Baseline.baseline") == "1\n"
    check_common(tmp_path, dt)
    same = dt("lesson.tape", "-O", "OUT", "-p", "Basics", "list")
    every = dt("lesson.tape", "-O", "OUT", "list")
    assert same.out == every.out and len(every.out.splitlines()) == 26
    bad = dt("lesson.tape", "-O", "OUT", "-p", "Nope", "list")
    assert bad.rc == 1 and "One of the specified plans was not found" in bad.err
    assert "Basics" in bad.err


def test_36_branch_grafting(tmp_path, dt, write, data):
    run_lesson(dt, write, """
        task preproc < in=(DataSet: train=big.txt test=small.txt) > out {
          cat < $in > $out
        }
        task trainer < in=$out@preproc[DataSet:train] > model {
          cat < $in > $model
        }
        task tester < in=$out@preproc[DataSet:test] > hyps {
          cat < $in > $hyps
        }
        """)
    out = tmp_path / "OUT"
    assert sorted(os.listdir(out / "preproc")) == ["Baseline.baseline", "DataSet.test",
                                                   "DataSet.train"]
    assert is_link_to(out / "preproc" / "DataSet.train", "Baseline.baseline")
    assert os.listdir(out / "trainer") == ["Baseline.baseline"]
    assert os.listdir(out / "tester") == ["Baseline.baseline"]
    assert (out / "trainer" / "Baseline.baseline" / "model").read_text() == \
        (tmp_path / "big.txt").read_text()
    assert (out / "tester" / "Baseline.baseline" / "hyps").read_text() == \
        (tmp_path / "small.txt").read_text()
    check_common(tmp_path, dt)


def test_38_nested_branch_points(tmp_path, dt, write, data):
    run_lesson(dt, write, """
        task uses_nested < file=$ref_test :: N=$num_refs {
          echo "I will be reading file $file with $N refs"
          head -n $N $file
        }
        global {
          num_refs=(
            Test:
            baseline=(
              NumRefs:
              oneRef=1
              multiRef=4
            )
            mt02=(NumRefs: oneRef=1 multiRef=16)
          )
          ref_test=(
            Test:
            baseline=(NumRefs: oneRef=small.txt multiRef=small.txt)
            mt02=(NumRefs: oneRef=big.txt multiRef=big.txt)
          )
        }""")
    out = tmp_path / "OUT" / "uses_nested"
    real = sorted(n for n in os.listdir(out) if not (out / n).is_symlink())
    assert real == ["Baseline.baseline", "NumRefs.multiRef", "Test.mt02"]
    assert stdout_of(out / "Baseline.baseline") == \
        f"I will be reading file {tmp_path}/small.txt with 1 refs\n1\n"
    assert stdout_of(out / "NumRefs.multiRef") == \
        f"I will be reading file {tmp_path}/small.txt with 4 refs\n1\n2\n3\n4\n"
    assert stdout_of(out / "Test.mt02") == \
        f"I will be reading file {tmp_path}/big.txt with 1 refs\n1\n"
    assert is_link_to(out / "NumRefs.oneRef+Test.baseline", "Baseline.baseline")
    assert is_link_to(out / "NumRefs.multiRef+Test.baseline", "NumRefs.multiRef")
    assert is_link_to(out / "NumRefs.oneRef+Test.mt02", "Test.mt02")
    check_common(tmp_path, dt)


def test_61_shell_submitter_redefined(tmp_path, dt, write):
    run_lesson(dt, write, """
        global {
          ducttape_experimental_submitters=true
        }
        submitter shell :: COMMANDS {
          action run {
            echo "[my shell]" >&2
            eval "$COMMANDS"
          }
        }
        task hello_shell :: .submitter=shell {
          echo hello
        }
        """)
    d = tmp_path / "OUT" / "hello_shell" / "Baseline.baseline"
    assert stdout_of(d) == "hello\n"
    assert (d / "ducttape_stderr.txt").read_text() == "[my shell]\n"
    check_common(tmp_path, dt)


def test_62_sge_submitter_with_recording_qsub(tmp_path, dt, write):
    # like the tutorial's harness: a qsub that only records its arguments (SGE is not installed)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    qsub = bindir / "qsub"
    qsub.write_text(f'#!/bin/bash\necho "$@" >> {tmp_path}/qsub.log\n')
    qsub.chmod(qsub.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    run_lesson(dt, write, """
        global {
          ducttape_experimental_submitters=true
        }
        task hello_sge :: .submitter=sge .walltime="00:01:00" .vmem=1g .q=all.q {
          echo hello
        }
        """, env=env)
    d = tmp_path / "OUT" / "hello_sge" / "Baseline.baseline"
    script = (d / "ducttape_task.sh").read_text()
    for line in ("export submitter='sge'", "export q='all.q'", "export vmem='1g'",
                 "export walltime='00:01:00'"):
        assert line in script
    job = (d / "ducttape_job.sh").read_text().splitlines()
    assert "#$ -q all.q" in job and "#$ -l h_rt=00:01:00" in job
    assert f"#$ -o localhost:{d}/job.out" in job
    assert "#$ -N -hello_sge-Baseline.baseline" in job
    assert f"cd {d}" in job and "  echo hello" in job
    assert (tmp_path / "qsub.log").read_text() == "-sync y ducttape_job.sh\n"
    assert stdout_of(d) == ""
    check_common(tmp_path, dt, env=env)


def test_72_functions(tmp_path, dt, write, data):
    run_lesson(dt, write, """
        package my_tool :: .versioner=disk .path=/ {}

        func reusable : my_tool < in > out :: p {
          cat < $in > $out
          echo "p=$p"
        }
        task x calls reusable < in=small.txt > out :: p="something"
        task y calls reusable < in=big.txt > out :: p="something else"
        """)
    out = tmp_path / "OUT"
    assert (out / "x" / "Baseline.baseline" / "out").read_text() == (tmp_path / "small.txt").read_text()
    assert stdout_of(out / "x" / "Baseline.baseline") == "p=something\n"
    assert (out / "y" / "Baseline.baseline" / "out").read_text() == (tmp_path / "big.txt").read_text()
    assert stdout_of(out / "y" / "Baseline.baseline") == "p=something else\n"
    assert not (out / ".packages").exists()
    check_common(tmp_path, dt)


def test_flat_structure_rejects_branch_points(tmp_path, dt, write):
    write("lesson.tape", FLAT + "task t :: x=(X: a b) {\n  echo $x\n}\n")
    r = dt("lesson.tape", "-y", "-O", "OUT")
    assert r.rc == 1
    assert "may not contain any branchpoints if flat structure is being used" in r.err
    assert not (tmp_path / "OUT").exists()


def test_literal_inputs_relative_to_the_defining_file(tmp_path, dt, write):
    # spec §7.3 item 12: a relative literal in a config file is resolved against the config's
    # directory for inputs, and passed verbatim for params
    write("conf/data.txt", "x\n")
    write("conf/c.tconf", "global {\n  f=data.txt\n}\n")
    write("rel.tape", "task t < in=$f :: p=$f {\n  echo in=$in p=$p\n}\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    r = dt(str(tmp_path / "rel.tape"), "-C", str(tmp_path / "conf" / "c.tconf"), "-y",
           cwd=other)
    assert r.rc == 0, r
    assert stdout_of(other / "t" / "Baseline.baseline") == \
        f"in={tmp_path}/conf/data.txt p=data.txt\n"
