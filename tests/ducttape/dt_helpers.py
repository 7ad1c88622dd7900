"""Helpers shared by the ducttape tests (imported by name: tests/ducttape is on sys.path)."""

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    @property
    def listed(self):
        """`list` output without its state column: ["TASK REALIZATION", ...]."""
        return [" ".join(line.split()[:2]) for line in self.out.splitlines()]

    def __repr__(self):
        return f"<rc={self.rc}\nSTDOUT:\n{self.out}\nSTDERR:\n{self.err}>"


def run_dt(args, cwd, stdin="", env=None, timeout=60):
    e = dict(os.environ)
    e["PYTHONPATH"] = REPO + os.pathsep + e.get("PYTHONPATH", "")
    e["DUCTTAPE_NO_USER_CONFIG"] = "1"
    if env:
        e.update(env)
    proc = subprocess.run([sys.executable, "-m", "ducttape"] + [str(a) for a in args],
                          cwd=str(cwd), input=stdin, capture_output=True, text=True, env=e,
                          timeout=timeout)
    return Result(proc)


def write_dedented(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def load(tmp_path, text, name="wf.tape", config=None, out=None):
    """Parse and build a workflow from text (in-process)."""
    from ducttape.workflow import Workflow
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    os.environ["DUCTTAPE_NO_USER_CONFIG"] = "1"
    return Workflow(str(p), config, out or str(tmp_path / "out"))


def listing(wf, plans=None):
    return [(r.task.name, r.key) for r in wf.plan(plans)]
