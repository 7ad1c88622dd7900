"""Less common features: submitters, packages, graft globs, directives, user config, versions."""

import os


def test_user_submitter_requires_its_dot_params(tmp_path, dt, write):
    write("wf.tape", """
        global {
          ducttape_experimental_submitters=true
        }
        submitter wrap :: prefix :: COMMANDS TASK REALIZATION {
          action run {
            echo "$prefix $TASK $REALIZATION" >&2
            eval "$COMMANDS"
          }
        }
        task good :: .submitter=wrap .prefix="[wrapped]" :: n=(N: 1 2) {
          echo n=$n
        }
        task bad :: .submitter=wrap {
          echo never
        }
        """)
    r = dt("wf.tape", "-y")
    assert r.rc == 1
    assert "Dot parameter 'prefix' required by submitter 'wrap' not defined by task 'bad'" in r.err
    p = tmp_path / "wf.tape"
    p.write_text(p.read_text().replace(".submitter=wrap {", ".submitter=wrap .prefix=x {"))
    r = dt("wf.tape", "-y")
    assert r.rc == 0, r
    d = tmp_path / "good" / "N.2"
    assert (d / "ducttape_stderr.txt").read_text() == "[wrapped] good N.2\n"
    assert (d / "ducttape_stdout.txt").read_text() == "n=2\n"


def test_submitter_chosen_per_realization(tmp_path, dt, write):
    write("wf.tape", """
        global {
          ducttape_experimental_submitters=true
        }
        submitter loud :: COMMANDS {
          action run {
            echo LOUD
            eval "$COMMANDS"
          }
        }
        task t :: .submitter=(Sub: shell loud) {
          echo body
        }
        plan P {
          reach t via (Sub: *)
        }
        """)
    assert dt("wf.tape", "-y").rc == 0
    assert (tmp_path / "t" / "Baseline.baseline" / "ducttape_stdout.txt").read_text() == "body\n"
    assert (tmp_path / "t" / "Sub.loud" / "ducttape_stdout.txt").read_text() == "LOUD\nbody\n"


def test_unknown_submitter(tmp_path, dt, write):
    write("wf.tape", "global {\n  ducttape_experimental_submitters=true\n}\n"
                     "task t :: .submitter=nope {\n}\n")
    r = dt("wf.tape", "list")
    assert r.rc == 1 and "Unknown submitter 'nope'" in r.err and "wf.tape:4" in r.err


def test_slurm_submitter_script_without_running(tmp_path, dt, write):
    # shape of the generated job script (the real run is in test_slurm.py)
    write("wf.tape", """
        global {
          ducttape_experimental_submitters=true
        }
        task t :: .submitter=slurm .gpus=2 .cpus=8 .mem=64G .time="4:00:00" .partition=gpu
               :: .nodes=1 .account=proj {
          echo hi
        }
        """)
    r = dt("wf.tape", "commands", "t", "*")
    assert r.rc == 0
    assert "export gpus=2" in r.out and "export account=proj" in r.out


def test_graft_globs_in_declaration_order(tmp_path, dt, write):
    write("wf.tape", """
        task shard > out :: n=(Shard: c a b) {
          echo $n > $out
        }
        task pool < parts=$out@shard[Shard:*] > out {
          cat $parts > $out
        }
        global {
          langs=(Lang: en de fr)
        }
        task all_langs :: l=$langs[Lang:*] {
          echo "$l"
        }
        """)
    r = dt("wf.tape", "list")
    assert "pool Baseline.baseline" in r.out and "all_langs Baseline.baseline" in r.out
    assert dt("wf.tape", "-y").rc == 0
    assert (tmp_path / "pool" / "Baseline.baseline" / "out").read_text() == "c\na\nb\n"
    assert (tmp_path / "all_langs" / "Baseline.baseline" / "ducttape_stdout.txt").read_text() == \
        "en de fr\n"


def test_param_graft_on_global(tmp_path, dt, write):
    write("wf.tape", """
        global {
          var=(X: x1=1 x2=2)
        }
        task hello :: x=$var[X:x2] y=$var {
          echo $x $y
        }
        """)
    r = dt("wf.tape", "list")
    assert r.listed == ["hello Baseline.baseline", "hello X.x2"]
    assert dt("wf.tape", "-y").rc == 0
    assert (tmp_path / "hello" / "Baseline.baseline" / "ducttape_stdout.txt").read_text() == "2 1\n"


def test_packages_with_disk_versioner(tmp_path, dt, write):
    write("tool/run.sh", "echo hi from tool\n")
    write("wf.tape", f"""
        global {{
          ducttape_experimental_packages=true
        }}
        package my_tool :: .versioner=disk .path={tmp_path}/tool :: flag=x {{
          echo "building with $flag"
        }}
        task use : my_tool > out {{
          bash $my_tool/run.sh > $out
        }}
        """)
    r = dt("wf.tape", "-y", "-O", "out")
    assert r.rc == 0, r
    assert "BUILD: my_tool" in r.err
    out = tmp_path / "out"
    assert (out / "use" / "Baseline.baseline" / "out").read_text() == "hi from tool\n"
    pk = out / ".packages" / "my_tool"
    assert (pk / "HEAD").read_text() == "VERSIONING_UNSUPPORTED"
    assert (pk / "VERSIONING_UNSUPPORTED" / "build_stdout.txt").read_text() == "building with x\n"
    assert "package\tmy_tool\tVERSIONING_UNSUPPORTED" in \
        (out / ".versions" / "1" / "manifest.txt").read_text()
    r = dt("wf.tape", "-O", "out", "env", "use", "*")
    assert f"my_tool={pk}/VERSIONING_UNSUPPORTED" in r.out


def test_packages_need_directive_and_versioner_params(tmp_path, dt, write):
    write("wf.tape", """
        package p :: .versioner=git .repo=x {
        }
        task t : p {
        }
        """)
    r = dt("wf.tape", "list")
    assert r.rc == 1 and "experimental packages" in r.err
    p = tmp_path / "wf.tape"
    p.write_text("global {\n  ducttape_experimental_packages=true\n}\n" + p.read_text())
    r = dt("wf.tape", "list")
    assert r.rc == 1 and "must define .ref, required by versioner 'git'" in r.err


def test_undeclared_and_unused_variable_lint(tmp_path, dt, write):
    tape = """
        global {
          ducttape_undeclared_vars=%s
          ducttape_unused_vars=warn
        }
        task t :: used=1 unused=2 {
          echo $used $mystery_var
        }
        """
    write("wf.tape", tape % "warn")
    r = dt("wf.tape", "list")
    assert r.rc == 0
    assert "uses $mystery_var" in r.err and "declares 'unused'" in r.err
    write("wf.tape", tape % "error")
    r = dt("wf.tape", "list")
    assert r.rc == 1 and "uses $mystery_var" in r.err


def test_user_config_file_is_merged(tmp_path, dt, write):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".ducttape").write_text("global {\n  who=from_home\n}\n")
    write("wf.tape", "task t :: who=@ {\n  echo $who\n}\n")
    env = {"HOME": str(home), "DUCTTAPE_NO_USER_CONFIG": ""}
    r = dt("wf.tape", "-y", env=env)
    assert r.rc == 0, r
    assert (tmp_path / "t" / "Baseline.baseline" / "ducttape_stdout.txt").read_text() == \
        "from_home\n"


def test_config_blocks(tmp_path, dt, write):
    write("wf.tape", """
        config {
          a=anon
        }
        config named {
          b=ignored
        }
        task t :: a=@ {
          echo $a
        }
        """)
    r = dt("wf.tape", "-y")
    assert r.rc == 0 and "named config block 'named' is ignored" in r.err
    assert (tmp_path / "t" / "Baseline.baseline" / "ducttape_stdout.txt").read_text() == "anon\n"


def test_branchpoint_delimiter_directive(tmp_path, dt, write):
    write("wf.tape", """
        global {
          ducttape_branchpoint_delimiter=-
        }
        task t :: a=(A: x y) b=(B: u v) {
          echo
        }
        plan P {
          reach t via (A: y) * (B: v)
        }
        """)
    assert dt("wf.tape", "list").listed == ["t A.y-B.v"]


def test_versions_mode(tmp_path, dt, write):
    write("wf.tape", "task t :: n=(N: 1 2) {\n  echo $n\n}\n")
    assert dt("wf.tape", "-y").rc == 0
    r = dt("wf.tape", "versions")
    assert r.out == "version 1: 2 run, 0 already complete\n"


def test_inputs_with_globs_and_home(tmp_path, dt, write):
    write("d/a1.txt", "1\n")
    write("d/a2.txt", "2\n")
    write("wf.tape", """
        task t < files="d/a*.txt" h=~/ {
          cat $files
          test -d $h
        }
        """)
    r = dt("wf.tape", "-y", env={"HOME": str(tmp_path)})
    assert r.rc == 0, r
    assert (tmp_path / "t" / "Baseline.baseline" / "ducttape_stdout.txt").read_text() == "1\n2\n"
    write("wf2.tape", "task t < files=\"d/b*.txt\" {\n  cat $files\n}\n")
    r = dt("wf2.tape", "-y", "-O", "o2")
    assert r.rc == 1 and "Input file not found" in r.err
    assert not os.path.exists(tmp_path / "o2")
