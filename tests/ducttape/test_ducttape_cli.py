"""Command line: options, modes, bad input (clear message, exit 1, nothing on disk changed)."""

import os

import pytest

from ducttape.cli import parse_args, UsageError

HYPER = """
task has_branches < in=(WhichSize: smaller=small.txt bigger=big.txt) > out {
  cat < $in > $out
}
task one_off_2 < in=$out@has_branches :: N=(N: one=1 two=2) {
  head -n $N $in
}
"""


def snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def test_option_spellings():
    o = parse_args(["wf.tape", "-C", "c.tconf", "-p", "A", "--plans=B", "-j4", "-O=out", "-yn",
                    "--traversal", "breadth-first", "list"])
    assert (o.config, o.plans, o.jobs, o.output, o.yes, o.no_color, o.traversal, o.mode) == \
        ("c.tconf", ["A", "B"], 4, "out", True, True, "b", "list")
    o = parse_args(["wf.tape", "--config_file=x", "--jobs", "2", "--output", "o", "--yes",
                    "--dry-run", "purge", "t*", "N.two", "*"])
    assert (o.config, o.jobs, o.output, o.yes, o.dry_run, o.mode, o.args) == \
        ("x", 2, "o", True, True, "purge", ["t*", "N.two", "*"])
    # options after the mode are accepted too (0.3 rejects them)
    o = parse_args(["wf.tape", "list", "-p", "P"])
    assert o.mode == "list" and o.plans == ["P"]


@pytest.mark.parametrize("argv,msg", [
    ([], "Workflow file is required"),
    (["-y", "wf.tape"], "Workflow file is required"),
    (["wf.tape", "--write-scripts"], "Unknown option --write-scripts"),
    (["wf.tape", "-P", "x"], "Unknown option -P"),
    (["wf.tape", "-j", "many"], "needs a number"),
    (["wf.tape", "lsit"], "Unknown mode 'lsit'"),
    (["wf.tape", "-p"], "needs a value"),
])
def test_usage_errors(argv, msg):
    with pytest.raises(UsageError) as e:
        parse_args(argv)
    assert msg in str(e.value)


def test_usage_errors_exit_1(tmp_path, dt, write):
    write("wf.tape", "task a > x {\n  echo > $x\n}\n")
    for args in (["wf.tape", "lsit"], ["wf.tape", "--bogus"], []):
        r = dt(*args)
        assert r.rc == 1 and "ERROR:" in r.err and "Usage:" in r.err
    assert sorted(os.listdir(tmp_path)) == ["wf.tape"]


def test_version_and_help(dt):
    r = dt("--version")
    assert r.rc == 0 and r.out.startswith("ducttape 0.3")
    r = dt("--help")
    assert r.rc == 0 and "Usage: ducttape" in r.out and "summary" in r.out


@pytest.mark.parametrize("tape,conf,args,msg", [
    ("task a {\n  echo\n", None, [], "Missing closing } brace"),
    ("task a :: x=(BP: a b) {\n}\ntask b :: x=(BP: b a) {\n}\n", None, [], "baseline"),
    ("task a > x=$y {\n}\n", None, [], "must be a literal"),
    ("task a :: x=$undefined {\n}\n", None, [], "Config variable undefined"),
    ('import "nope.tconf"\n', None, [], "Imported file not found"),
    ("task a {\n}\n", None, ["-C", "missing.tconf"], "Config file not found"),
    ("task a {\n}\nplan P {\n  reach a\n}\n", None, ["-p", "Q"], "plans was not found"),
    ("task a :: x=(X: a) {\n}\nplan P {\n  reach a via (Y: *)\n}\n", None, [],
     "No such branch point: Y"),
    ("task a < in=missing.txt {\n}\n", None, [], "Input file not found"),
])
def test_bad_input_changes_nothing(tmp_path, dt, write, tape, conf, args, msg):
    write("wf.tape", tape)
    (tmp_path / "out").mkdir()
    before = snapshot(tmp_path)
    r = dt("wf.tape", "-y", "-O", "out", *args)
    assert r.rc == 1, r
    assert msg in r.err and "ERROR:" in r.err
    if "not found" not in msg or "Input" in msg or "Imported" in msg:
        assert "wf.tape:" in r.err or "Config" in msg
    assert snapshot(tmp_path) == before


def test_list_dry_run_and_exec(tmp_path, dt, write, data):
    write("wf.tape", HYPER)
    r = dt("wf.tape", "list")
    assert r.rc == 0
    assert r.listed == ["has_branches Baseline.baseline", "has_branches WhichSize.bigger",
                                  "one_off_2 Baseline.baseline", "one_off_2 N.two",
                                  "one_off_2 WhichSize.bigger"]
    before = snapshot(tmp_path)
    r = dt("wf.tape", "--dry-run")
    assert r.rc == 0 and "RUN: " in r.err and "Dry run" in r.err
    assert snapshot(tmp_path) == before
    r = dt("wf.tape", "-O", "o", "-j", "2", stdin="y\n")
    assert r.rc == 0 and "Are you sure you want to run these 5 tasks? [y/n]" in r.err
    assert (tmp_path / "o" / "one_off_2" / "N.two" / "ducttape_stdout.txt").read_text() == "1\n2\n"
    # task stdout is echoed with a task/realization prefix
    assert "one_off_2/N.two: 2" in r.out


def test_output_directive_and_option(tmp_path, dt, write):
    write("wf.tape", "global {\n  ducttape_output=from_directive\n}\ntask a > x {\n  echo > $x\n}\n")
    assert dt("wf.tape", "-y").rc == 0
    assert (tmp_path / "from_directive" / "a" / "Baseline.baseline" / "x").exists()
    assert dt("wf.tape", "-y", "-O", "from_option").rc == 0
    assert (tmp_path / "from_option" / "a" / "Baseline.baseline" / "x").exists()


def test_env_commands_viz_explain(tmp_path, dt, write, data):
    write("wf.tape", HYPER)
    r = dt("wf.tape", "env", "one_off_2", "N.two")
    assert r.rc == 0
    assert r.out.splitlines() == [
        "# one_off_2 N.two:",
        f"in={tmp_path}/has_branches/Baseline.baseline/out",
        "N=2"]
    r = dt("wf.tape", "env", "one_off_2", "N.three")
    assert r.rc == 1 and "No planned realization" in r.err
    r = dt("wf.tape", "commands", "one_off_2", "N.two")
    assert "export N=2" in r.out and "set -o pipefail" in r.out and "head -n $N $in" in r.out
    r = dt("wf.tape", "viz")
    assert r.out.startswith("digraph G {")
    assert '"has_branches/WhichSize.bigger" -> "one_off_2/WhichSize.bigger";' in r.out
    r = dt("wf.tape", "-T", "packed", "viz")
    assert '"has_branches" -> "one_off_2";' in r.out
    r = dt("wf.tape", "explain")
    assert r.rc == 0 and "Accepted realizations:" in r.err
    assert "one_off_2 (branch points: N, WhichSize)" in r.err


def test_realization_globs(tmp_path, dt, write, data):
    write("wf.tape", HYPER)
    assert dt("wf.tape", "-y").rc == 0
    r = dt("wf.tape", "--dry-run", "purge", "one_off_2", "N.two")
    assert r.err.count("PURGE (move to the attic):") == 1 and "one_off_2/N.two" in r.err
    r = dt("wf.tape", "--dry-run", "purge", "'*'".strip("'"), "WhichSize.*")
    assert r.err.count("PURGE (move to the attic):") == 5  # baseline and bigger of both tasks, and N.two below
    r = dt("wf.tape", "--dry-run", "purge", "one_off_2", "WhichSize.*+*")
    assert r.err.count("PURGE (move to the attic):") == 3
    r = dt("wf.tape", "--dry-run", "purge", "{has_branches,one_off_2}", "Baseline.baseline")
    assert r.err.count("PURGE (move to the attic):") == 3  # with the descendant one_off_2/N.two
    r = dt("wf.tape", "--dry-run", "invalidate", "has_branches", "WhichSize.bigger")
    assert r.err.count("INVALIDATE:") == 2  # plus its descendant


def test_summary_mode(tmp_path, dt, write):
    write("wf.tape", """
        task score > result=score.json :: n=(N: 1..3) k=(K: a=0 b=5) {
          echo "{\\"bleu\\": $n$k, \\"chrf\\": 0.$n}" > $result
        }
        task other > x {
          echo > $x
        }
        summary scores {
          of score > bleu chrf {
            python3 -c "import json,sys; d=json.load(open('$result')); print(d['bleu'])" > $bleu
            python3 -c "import json,sys; d=json.load(open('$TASK_DIR/score.json')); print(d['chrf'])" > $chrf
          }
        }
        plan All {
          reach score, other via (N: *) * (K: a)
          reach score via (N: 2) * (K: b)
        }
        """)
    assert dt("wf.tape", "-y").rc == 0
    r = dt("wf.tape", "summary")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0] == "# Summary: scores (task score)"
    assert "# Variable branch points: K N" in lines
    i = lines.index("K\tN\tbleu\tchrf")
    assert lines[i + 1:] == ["a\t1\t10\t0.1", "a\t2\t20\t0.2", "a\t3\t30\t0.3", "b\t2\t25\t0.2"]
    r = dt("wf.tape", "summary", "nope")
    assert r.rc == 1 and "No such summary: nope" in r.err
    # incomplete realizations are left out
    r = dt("wf.tape", "-y", "purge", "score", "N.3")
    r = dt("wf.tape", "summary", "scores")
    assert "a\t3\t30\t0.3" not in r.out and "a\t2\t20\t0.2" in r.out


def test_long_realization_names_are_hashed(tmp_path, dt, write):
    bps = " ".join(f"p{i}=(LongBranchPointName{i}: base value_{'x' * 30})" for i in range(8))
    write("wf.tape", f"task t :: {bps} {{\n  echo ok\n}}\n"
          "plan All {\n  reach t via " + " * ".join(
              f"(LongBranchPointName{i}: *)" for i in range(8)) + "\n}\n")
    r = dt("wf.tape", "list")
    longest = max(r.out.splitlines(), key=len)
    assert len(longest) > 250
    assert dt("wf.tape", "-y", "-j", "8").rc == 0
    dirs = os.listdir(tmp_path / "t")
    assert len([d for d in dirs if len(d) == 32 and d.isupper() or len(d) == 32 and
                all(c in "0123456789ABCDEF" for c in d)]) > 0
    r = dt("wf.tape", "-y")
    assert "nothing to do" in r.err
