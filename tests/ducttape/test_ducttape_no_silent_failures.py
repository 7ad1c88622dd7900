"""Mistakes a newcomer makes that 0.3 lets pass silently or reports in the wrong place (issue 15,
issue 13 item 4): each one is a message with the file, the line and what exists, and a non-zero
exit where it is a failure."""

import re

ITMIX = """
    task Mix > out :: mix=(ITMix: full no_blocks no_pseudo) {
      echo $mix > $out
    }
    task Train < data=$out@Mix > model {
      cat $data > $model
    }
    plan ablations {
      reach Train via (ITMix: no_blocks no_pseudoo)
    }
    """


# ---- a plan naming a branch that does not exist ----------------------------------------------

def test_unknown_branch_in_plan_is_a_warning_with_file_line_and_the_known_branches(dt, write):
    write("wf.tape", ITMIX)
    r = dt("wf.tape", "-p", "ablations", "list")
    assert r.rc == 0, r  # still runnable: published tapes name branches that are gone
    assert r.listed == ["Mix ITMix.no_blocks", "Train ITMix.no_blocks"]
    warning = [line for line in r.err.splitlines() if line.startswith("WARNING")]
    assert len(warning) == 1, r.err
    assert "wf.tape:9:" in warning[0] and "'no_pseudoo'" in warning[0]
    assert "(did you mean 'no_pseudo'?)" in warning[0]
    assert "ITMix has: full, no_blocks, no_pseudo" in warning[0]
    dry = dt("wf.tape", "-p", "ablations", "--dry-run")
    assert dry.rc == 0 and "'no_pseudoo'" in dry.err


def test_unknown_branch_is_an_error_under_strict_and_nothing_runs(tmp_path, dt, write):
    write("wf.tape", ITMIX)
    r = dt("wf.tape", "-p", "ablations", "--strict", "-y")
    assert r.rc == 1, r
    assert re.search(r"ERROR: wf\.tape:9:\d+: Plan ablations names branch 'no_pseudoo'", r.err)
    assert not (tmp_path / "Mix").exists()
    ok = dt("wf.tape", "-p", "ablations", "-y")  # without --strict the known branch runs
    assert ok.rc == 0, ok
    assert (tmp_path / "Train" / "ITMix.no_blocks" / "model").read_text() == "no_blocks\n"


def test_baseline_star_and_existing_branches_do_not_warn(dt, write):
    write("wf.tape", ITMIX.replace("(ITMix: no_blocks no_pseudoo)", "(ITMix: baseline no_pseudo)")
          + "plan every {\n  reach Train via (ITMix: *)\n}\n")
    r = dt("wf.tape", "list")
    assert r.rc == 0 and "WARNING" not in r.err, r


def test_a_plan_selecting_nothing_still_shows_why(dt, write):
    write("wf.tape", ITMIX.replace("no_blocks no_pseudoo", "no_pseudoo"))
    r = dt("wf.tape", "list")
    assert r.rc == 1 and "Plan includes zero tasks" in r.err
    assert "WARNING: wf.tape:9: plan ablations names branch 'no_pseudoo'" in r.err


# ---- invalidate / purge that match nothing ---------------------------------------------------

def test_invalidate_or_purge_of_a_misspelt_task_is_an_error_naming_the_tasks(tmp_path, dt, write):
    write("wf.tape", ITMIX)
    assert dt("wf.tape", "-y").rc == 0
    for mode in ("invalidate", "purge"):
        r = dt("wf.tape", "-y", mode, "Trainn", "*")
        assert r.rc == 1, r
        assert f"{mode}: no task is named 'Trainn' (did you mean Train?)" in r.err
        assert "one of the workflow's tasks: Mix, Train" in r.err
    r = dt("wf.tape", "-y", "invalidate", "Train", "ITMix.no_pseudoo")
    assert r.rc == 1 and "no planned realization of 'Train' matches 'ITMix.no_pseudoo'" in r.err
    assert "one of: ITMix.no_blocks" in r.err
    # nothing was touched; a correct invalidate still works
    assert not list(tmp_path.rglob("ducttape.INVALIDATED"))
    r = dt("wf.tape", "-y", "invalidate", "Train", "*")
    assert r.rc == 0 and (tmp_path / "Train" / "ITMix.no_blocks" / "ducttape.INVALIDATED").exists()


def test_invalidate_of_a_task_outside_the_selected_plans_says_so(dt, write):
    write("wf.tape", ITMIX + "plan mix_only {\n  reach Mix\n}\n")
    r = dt("wf.tape", "-p", "mix_only", "invalidate", "Train", "*")
    assert r.rc == 1 and "task 'Train' is not planned in plan mix_only" in r.err, r
    r = dt("wf.tape", "-p", "mix_only", "invalidate", "Mix", "*")  # matches, nothing run yet
    assert r.rc == 0 and "Nothing to invalidate: the matching tasks have not run yet" in r.err


# ---- list says what is done --------------------------------------------------------------------

def test_list_marks_each_realized_task_done_or_to_run(tmp_path, dt, write):
    write("wf.tape", """
        task A > a {
          echo a > $a
        }
        task B < a=@A > b :: fail=(Fail: no yes) {
          [ $fail = no ]
          cat $a > $b
        }
        plan P {
          reach B via (Fail: *)
        }
        """)
    before = dt("wf.tape", "list")
    assert before.out.splitlines() == ["A Baseline.baseline to-run", "B Baseline.baseline to-run",
                                       "B Fail.yes to-run"]
    assert "3 realized task(s): 0 done, 3 to run" in before.err
    assert dt("wf.tape", "-y").rc == 1  # B/Fail.yes fails
    after = dt("wf.tape", "list")
    assert after.rc == 0
    assert after.out.splitlines() == ["A Baseline.baseline done", "B Baseline.baseline done",
                                      "B Fail.yes to-run"]
    assert "(Fail.yes): Non-zero exit code" in after.err  # why it will re-run
    dry = dt("wf.tape", "--dry-run")  # the same judgement as the work plan
    assert [line for line in dry.err.splitlines() if line.startswith("RUN:")] == \
        [f"RUN: {tmp_path / 'B' / 'Fail.yes'} (Fail.yes)"]


# ---- an unclosed '(' is reported where it was opened ----------------------------------------

def _error_lines(r):
    return [line for line in r.err.splitlines() if line.startswith("ERROR")]


def test_unclosed_paren_in_a_task_header_is_reported_at_the_paren(dt, write):
    write("wf.tape", """
        task A > x :: p=(BP: a b
           :: q=1 {
          echo $p $q > $x
        }
        """)
    r = dt("wf.tape", "list")
    assert r.rc == 1
    (err,) = _error_lines(r)
    assert err.startswith("ERROR: wf.tape:2:17: Unclosed branch point '(BP: ...' -- no ')' "
                          "before wf.tape:3:4"), err
    assert "    2 | task A > x :: p=(BP: a b" in r.err


def test_unclosed_paren_before_the_body_brace_and_in_a_global(dt, write):
    write("wf.tape", "task A > x :: p=(BP: a b {\n  echo $p > $x\n}\n")
    (err,) = _error_lines(dt("wf.tape", "list"))
    assert err.startswith("ERROR: wf.tape:1:17: Unclosed branch point '(BP: ...'"), err
    write("g.tape", "global {\n  x=(G: a b\n  y=1\n}\ntask A :: x=@ {\n  echo $x\n}\n")
    (err,) = _error_lines(dt("g.tape", "list"))
    assert err.startswith("ERROR: g.tape:2:5: Unclosed branch point '(G: ...'"), err
    write("n.tape", "task A > x :: p=(Outer: a=(Inner: u v\n  b=2) {\n  echo $p > $x\n}\n")
    (err,) = _error_lines(dt("n.tape", "list"))
    assert err.startswith("ERROR: n.tape:1:"), err  # the outer or inner paren, never line 2


def test_multiline_branch_points_and_their_own_errors_are_unchanged(dt, write):
    write("wf.tape", "task A > x :: p=(BP:\n   a=1\n   b=2\n) {\n  echo $p > $x\n}\n")
    assert dt("wf.tape", "list").listed == ["A Baseline.baseline", "A BP.b"]
    write("bad.tape", "task A > x :: p=(S: a=1\n  b=$y@) {\n  echo $p > $x\n}\n")
    (err,) = _error_lines(dt("bad.tape", "list"))
    assert err.startswith("ERROR: bad.tape:2:"), err  # the mistake is on line 2
    write("gpu.tape", "task A :: p=(BP: a=gpu:1 b=2) {\n  echo $p\n}\n")
    (err,) = _error_lines(dt("gpu.tape", "list"))  # an unquoted ':' is not a missing ')'
    assert err == "ERROR: gpu.tape:1:23: An unquoted literal may not contain a : symbol", err


def test_unclosed_paren_before_the_next_task_is_reported_at_the_paren(dt, write):
    write("wf.tape", "task A > x :: p=(BP: a b\n\ntask B < y=$x@A > z {\n  cat $y > $z\n}\n")
    (err,) = _error_lines(dt("wf.tape", "list"))
    assert err.startswith("ERROR: wf.tape:1:17: Unclosed branch point '(BP: ...' -- no ')' "
                          "before wf.tape:3:8 (there: Unexpected '<'"), err


# ---- spec conformance found by the 0.3 compatibility check (issue 13 item 4) --------------

def test_anonymous_config_block_with_dash_c_is_an_error(dt, write):
    write("wf.tape", "config {\n  a=anon\n}\ntask t :: a=@ b=@ {\n  echo $a $b\n}\n")
    write("c.tconf", "global {\n  b=from_c\n}\n")
    r = dt("wf.tape", "-C", "c.tconf", "list")
    assert r.rc == 1, r
    (err,) = _error_lines(r)
    assert err.startswith("ERROR: wf.tape:1:1: This workflow has an anonymous 'config {' block, "
                          "so it cannot also be run with -C c.tconf"), err
    assert "rename the block to 'global {'" in r.err
    write("ok.tape", "global {\n  a=anon\n}\ntask t :: a=@ b=@ {\n  echo $a $b\n}\n")
    assert dt("ok.tape", "-C", "c.tconf", "list").rc == 0


def test_sequence_without_a_digit_before_the_point_is_a_parse_error(dt, write):
    write("wf.tape", "task t :: s=(S: .5..1.5..0.5) {\n  echo $s\n}\n")
    r = dt("wf.tape", "list")
    assert r.rc == 1
    (err,) = _error_lines(r)
    assert err.startswith("ERROR: wf.tape:1:17: Invalid sequence '.5..1.5..0.5' in '(S: ...)'")
    write("plan.tape", "task t :: s=(S: 0.5..1.5..0.5) {\n  echo $s\n}\n"
                       "plan P {\n  reach t via (S: .5..1)\n}\n")
    (err,) = _error_lines(dt("plan.tape", "list"))
    assert err.startswith("ERROR: plan.tape:5:19: Invalid sequence '.5..1'"), err
    write("good.tape", "task t :: s=(S: 0.5..1.5..0.5) {\n  echo $s\n}\n")
    assert dt("good.tape", "list").listed == ["t Baseline.baseline", "t S.1.0", "t S.1.5"]
