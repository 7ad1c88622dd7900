#!/usr/bin/env python
"""How long `make demo` takes: the workflow time of fresh clones of two commits, side by side, on
this machine (issue 34 compares a commit against 99b4779, the baseline).

    python bench/bench_demo_time.py --run 99b4779 HEAD --work /tmp/demo-bench   # clones, runs, reports
    python bench/bench_demo_time.py --measure /tmp/demo_old /tmp/demo_new       # finished clones only

`--run` clones each commit of this repository into WORK/<commit>, runs `make demo` there (setup
included, one after the other, nothing else should run on the machine) and reports. The workflow
time is that of the ducttape run: from the first task's start (its directory's creation) to the
last task's end (its exit-code file); `make demo` as a whole is timed around the command. Also
printed: the CPU (/proc/cpuinfo) and the tasks whose time lay on the critical path's longest
stretches (the longest tasks).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def task_times(out: Path) -> list[tuple[str, float, float]]:
    """(task/realization, start, end) of every finished task directory under ``out`` (ducttape's
    full-name symlinks skipped: each realization once)."""
    rows = []
    for rc in out.glob("*/*/ducttape_exit_code.txt"):
        d = rc.parent
        if d.is_symlink() or d.parent.name.startswith("."):
            continue
        st = os.stat(d)
        start = getattr(st, "st_birthtime", None) or _birth(d) or st.st_ctime
        rows.append((f"{d.parent.name}/{d.name}", start, rc.stat().st_mtime))
    return sorted(rows, key=lambda r: r[1])


def _birth(path: Path) -> float | None:
    # os.stat has no birth time on Linux before Python 3.12; statx through coreutils has
    try:
        out = subprocess.run(["stat", "-c", "%W", str(path)], capture_output=True, text=True).stdout
        value = float(out.strip())
        return value if value > 0 else None
    except (OSError, ValueError):
        return None


def measure(clone: Path) -> dict:
    rows = task_times(clone / "workflows" / "out")
    if not rows:
        sys.exit(f"{clone}: no finished task under workflows/out (run `make demo` there first)")
    start, end = min(r[1] for r in rows), max(r[2] for r in rows)
    longest = sorted(rows, key=lambda r: r[2] - r[1], reverse=True)[:5]
    info = {"clone": str(clone), "commit": _commit(clone), "tasks": len(rows),
            "workflow_min": round((end - start) / 60, 1),
            "longest": [(name, round((e - s) / 60, 1)) for name, s, e in longest]}
    total = clone / ".bench_demo_seconds"
    if total.is_file():
        info["make_demo_min"] = round(float(total.read_text()) / 60, 1)
    return info


def _commit(clone: Path) -> str:
    return subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def run(rev: str, work: Path) -> Path:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev], check=True,
                            capture_output=True, text=True).stdout.strip()
    clone = work / commit
    if clone.exists():
        sys.exit(f"{clone} exists: remove it for a fresh clone, or --measure it")
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
    t0 = time.time()
    with open(clone / "bench_demo.log", "w") as log:
        proc = subprocess.run(["make", "demo"], cwd=clone, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"make demo failed in {clone} (exit {proc.returncode}); see {clone}/bench_demo.log")
    (clone / ".bench_demo_seconds").write_text(f"{time.time() - t0:.0f}\n")
    return clone


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", nargs="+", metavar="COMMIT", help="clone each commit fresh and run make demo")
    ap.add_argument("--work", default="/tmp/demo-bench", help="where --run clones")
    ap.add_argument("--measure", nargs="+", metavar="CLONE", help="report finished clones")
    a = ap.parse_args(argv)
    clones = [Path(c) for c in a.measure or []]
    for rev in a.run or []:
        clones.append(run(rev, Path(a.work)))
    if not clones:
        ap.error("give --run or --measure")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores")
    results = [measure(c) for c in clones]
    for r in results:
        extra = f", make demo {r['make_demo_min']} min" if "make_demo_min" in r else ""
        print(f"{r['commit']}: workflow {r['workflow_min']} min ({r['tasks']} tasks){extra}; longest: "
              + ", ".join(f"{n} {m}" for n, m in r["longest"][:3]))
    if len(results) > 1:
        base = results[0]["workflow_min"]
        for r in results[1:]:
            print(f"{r['commit']} / {results[0]['commit']}: {r['workflow_min'] / base:.2f}x the workflow time")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
