"""Benchmark of the pure-Python ducttape against the figures of ducttape 0.3 on this machine.

Generates the two workflows of issue 3 in a temporary directory and times, end to end as
subprocesses (process start included):
  1. ``ducttape wf.tape list`` on a workflow with 1,000 realized tasks (a 500-branch sequence
     feeding a second task);
  2. ``ducttape wf.tape -y`` running 100 trivial tasks with ``-j 1``.

Usage: python bench/bench_ducttape.py [--repeat N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REFERENCE = {"list": 3.0, "exec": 4.0}  # ducttape 0.3 on this machine, seconds
TARGET = {"list": 1.0, "exec": 2.0}

LIST_TAPE = """\
task first > out :: i=(Shard: 1..500) {
  echo $i > $out
}

task second < in=$out@first > out {
  cat $in > $out
}

plan All {
  reach second via (Shard: *)
}
"""


def exec_tape(n=100):
    parts = []
    for i in range(n):
        parts.append(f"task t{i:03d} > out {{\n  echo {i} > $out\n}}\n")
    return "\n".join(parts)


def ducttape_cmd():
    exe = shutil.which("ducttape")
    here = os.path.dirname(os.path.abspath(sys.executable))
    local = os.path.join(here, "ducttape")
    if os.path.exists(local):
        return [local]
    if exe:
        return [exe]
    return [sys.executable, "-m", "ducttape"]


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, cwd):
    env = dict(os.environ, DUCTTAPE_NO_USER_CONFIG="1")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode())
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return dt, proc.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (median reported)")
    args = ap.parse_args()
    dt = ducttape_cmd()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-ducttape-") as tmp:
        d1 = os.path.join(tmp, "list")
        os.makedirs(d1)
        with open(os.path.join(d1, "wf.tape"), "w") as f:
            f.write(LIST_TAPE)
        times = []
        for _ in range(args.repeat):
            t, out = timed(dt + ["wf.tape", "list"], d1)
            n = len(out.decode().splitlines())
            if n != 1000:
                raise SystemExit(f"expected 1000 realized tasks, got {n}")
            times.append(t)
        results["list"] = statistics.median(times)

        times = []
        for k in range(args.repeat):
            d2 = os.path.join(tmp, f"exec{k}")
            os.makedirs(d2)
            with open(os.path.join(d2, "wf.tape"), "w") as f:
                f.write(exec_tape())
            t, _ = timed(dt + ["wf.tape", "-y", "-j", "1"], d2)
            done = sum(os.path.exists(os.path.join(d2, f"t{i:03d}", "Baseline.baseline", "out"))
                       for i in range(100))
            if done != 100:
                raise SystemExit(f"expected 100 completed tasks, got {done}")
            times.append(t)
        results["exec"] = statistics.median(times)

    print(f"{'benchmark':<40} {'python (s)':>10} {'target':>8} {'0.3 (s)':>8} {'speed-up':>9}")
    labels = {"list": "list, 1,000 realized tasks",
              "exec": "-y, 100 trivial tasks, -j 1"}
    ok = True
    for k in ("list", "exec"):
        v = results[k]
        ok &= v < TARGET[k]
        print(f"{labels[k]:<40} {v:>10.3f} {'<' + str(TARGET[k]):>8} {REFERENCE[k]:>8.1f} "
              f"{REFERENCE[k] / v:>8.1f}x")
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
