"""The non-exec modes: list, explain, env, commands, viz, summary, invalidate, purge, mark_done,
unlock, versions (spec §4.3, §3.10)."""

import difflib
import os
import re
import sys

from .errors import DucttapeError
from .execute import completion, confirm, lock_info, log, PREAMBLE


# ----------------------------------------------------------------------------------------------
# globs (§4.4)
# ----------------------------------------------------------------------------------------------

def glob_regex(pattern):
    out = []
    i = 0
    n = len(pattern)
    depth = 0
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "{":
            out.append("(?:")
            depth += 1
        elif c == "}" and depth:
            out.append(")")
            depth -= 1
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + ")" * depth + r"\Z")


def match_task(glob, name):
    return glob_regex(glob).match(name) is not None


def match_real(wf, glob, r):
    if glob == "*" or glob == r.key or glob == r.full:
        return True
    elems = glob.split(wf.delim)
    star = "*" in elems
    mentioned = {}
    for e in elems:
        if e == "*":
            continue
        bp, dot, br = e.partition(".")
        if not dot:
            raise DucttapeError(f"Invalid realization glob element '{e}'",
                                hint="BranchPoint.branch elements joined by + (or *)")
        if bp == "Baseline":
            continue
        mentioned[bp] = glob_regex(br)
    for bp, rx in mentioned.items():
        info = wf.bps.get(bp)
        b = r.real.get(bp, info.baseline if info else None)
        if b is None or not rx.match(b):
            return False
    if not star:
        for bp, b in r.real.items():
            if bp not in mentioned and b != wf.bps[bp].baseline:
                return False
    return True


def select(wf, planned, task_glob, real_globs):
    task_glob = task_glob or "*"
    real_globs = real_globs or ["*"]
    rx = glob_regex(task_glob)
    return [r for r in planned if rx.match(r.task.name)
            and any(match_real(wf, g, r) for g in real_globs)]


def with_descendants(planned, victims):
    keys = {(r.task.name, r.key) for r in victims}
    changed = True
    while changed:
        changed = False
        for r in planned:
            k = (r.task.name, r.key)
            if k in keys:
                continue
            if any((d.task.name, d.key) in keys for d in r.deps):
                keys.add(k)
                changed = True
    return [r for r in planned if (r.task.name, r.key) in keys]


# ----------------------------------------------------------------------------------------------
# modes
# ----------------------------------------------------------------------------------------------

def mode_list(wf, planned, args, opts):
    """``TASK REALIZATION STATE`` per planned realized task, STATE being ``done`` or ``to-run``
    by the completion check exec mode and --dry-run use (0.3 prints the first two columns only;
    a third keeps ``awk '{print $1, $2}'`` working). Why an existing one will re-run goes to
    stderr, as in exec mode."""
    lines = []
    ndone = 0
    for r in planned:
        ok, reason = completion(r)
        ndone += ok
        lines.append(f"{r.task.name} {r.key} {'done' if ok else 'to-run'}\n")
        if reason:
            log(f"Task incomplete: {r.dir} ({r.key}): {reason}")
    sys.stdout.write("".join(lines))
    log(f"{len(planned)} realized task(s): {ndone} done, {len(planned) - ndone} to run")
    return 0


def mode_explain(wf, planned, args, opts):
    explain = []
    wf.plan(opts.plans or None, explain=explain)
    for item in explain:
        if isinstance(item, str):
            log(item)
    pset = {(r.task.name, r.key) for r in planned}
    # every realization the task could have (capped), to say which ones the plan leaves out
    allr = {}
    cap = 5000
    for t in wf.order:
        rs = []
        parents_ok = all(p in allr for p in t.parents)
        if parents_ok:
            rs = wf._realize_task(t, allr, lambda bp, b: True, False)
        if len(rs) > cap:
            log(f"PLAN: {t.name}: {len(rs)} possible realizations; not listing the excluded ones")
            allr[t.name] = [r for r in rs if (t.name, r.key) in pset]
            continue
        allr[t.name] = rs
        for r in rs:
            if (t.name, r.key) not in pset:
                log(f"PLAN: {t.name}: Plan excludes realization: {r.key}")
    log("Accepted realizations:")
    for t in wf.order:
        rs = [r for r in planned if r.task is t]
        bps = ", ".join(sorted(t.seen_bps)) or "none"
        log(f"  {t.name} (branch points: {bps}):")
        if not rs:
            log("    (none)")
        for r in rs:
            log(f"    {r.key}")
    return 0


def _one(wf, planned, args, mode):
    if len(args) > 2:
        raise DucttapeError(f"{mode} takes a task name and one realization",
                            hint=f"ducttape wf.tape {mode} TASK REALIZATION")
    task = args[0] if args else "*"
    real = args[1] if len(args) > 1 else "*"
    rs = select(wf, planned, task, [real])
    if not rs:
        raise DucttapeError(f"No planned realization matches task '{task}' and realization '{real}'",
                            hint="a task name and a realization as printed by the list mode")
    return rs


def mode_env(wf, planned, args, opts):
    for r in _one(wf, planned, args, "env"):
        sys.stdout.write(f"# {r.task.name} {r.key}:\n")
        for name, value in r.env():
            sys.stdout.write(f"{name}={value}\n")
    return 0


def mode_commands(wf, planned, args, opts):
    for r in _one(wf, planned, args, "commands"):
        sys.stdout.write(f"# {r.task.name} {r.key}:\n")
        for name, value in r.env():
            sys.stdout.write(f"export {name}={_shquote(value)}\n")
        sys.stdout.write(PREAMBLE)
        sys.stdout.write(f"cd {_shquote(r.dir)}\n")
        sys.stdout.write((r.task.body or "").strip("\n") + "\n")
    return 0


def _shquote(v):
    import shlex
    return shlex.quote(v)


def mode_viz(wf, planned, args, opts):
    out = ["digraph G {"]
    if opts.viz_type == "packed":
        for t in wf.order:
            out.append(f'  "{t.name}";')
            for p in t.parents:
                out.append(f'  "{p}" -> "{t.name}";')
    else:
        pset = {(r.task.name, r.key) for r in planned}
        for r in planned:
            out.append(f'  "{r.task.name}/{r.key}";')
        for r in planned:
            for d in r.deps:
                if (d.task.name, d.key) in pset:
                    out.append(f'  "{d.task.name}/{d.key}" -> "{r.task.name}/{r.key}";')
    out.append("}")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _victims(wf, planned, args, mode, descendants=True):
    task = args[0] if args else "*"
    reals = args[1:] if len(args) > 1 else ["*"]
    rs = select(wf, planned, task, reals)
    if not rs:
        raise _no_match(wf, planned, task, reals, mode)
    if descendants:
        rs = _with_all_descendants(wf, planned, rs)
    return rs


def _with_all_descendants(wf, planned, victims):
    """The victims and every realized task whose inputs come from them, transitively: the
    planned ones and those on disk outside the selected plans (a TrainIT invalidated under
    `-p ablations` also reaches its Decode/Score tasks of the eval plan; left "done", they
    would keep feeding the results table from the old model)."""
    pool = {(r.task.name, r.key): r for r in wf.realized_on_disk()}
    pool.update({(r.task.name, r.key): r for r in planned})  # the planned objects win
    rs = with_descendants(list(pool.values()), victims)
    rs.sort(key=lambda r: (r.task.topo, r.key))
    return rs


def resume_dir(wf, r):
    """Where a task keeps state that must survive its directory going to the attic (training
    checkpoints, partial labels): OUT/.resume/TASK/REALIZATION_DIRNAME, by the convention of
    workflows/*.tape (README "Resumable state"). None in the flat structure."""
    if wf.flat:
        return None
    return os.path.join(wf.out, ".resume", r.task.name, r.dirname)


def _has_state(wf, r):
    rd = resume_dir(wf, r)
    return os.path.lexists(r.dir) or bool(rd and os.path.lexists(rd))


def _to_attic(wf, path, rel, version):
    """Move ``path`` to OUT/.attic/VERSION/REL (never over an earlier one); return where."""
    dest = os.path.join(wf.out, ".attic", str(version), rel)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    final, k = dest, 1
    while os.path.lexists(final):
        k += 1
        final = f"{dest}.{k}"
    os.rename(path, final)
    return final


def _move_resume_state(wf, r, version):
    rd = resume_dir(wf, r)
    if rd and os.path.lexists(rd):
        dest = _to_attic(wf, rd, os.path.join(".resume", r.task.name, r.dirname), version)
        log(f"Moved the resumable state of {r.task.name}/{r.key} to the attic: {dest} "
            "(its next run starts from the beginning)")


def _refuse_running(rs, mode):
    """A task whose lock a live process holds is running: moving its directory or state would
    leave it writing into the attic."""
    from .execute import lock_state
    running = [r for r in rs if lock_state(r.lock_path) == "held"]
    if running:
        raise DucttapeError(f"{mode}: {len(running)} matching task(s) are running now (a live "
                            "process holds their lock): "
                            + ", ".join(f"{r.task.name}/{r.key}" for r in running),
                            hint="wait for them to finish (or stop that ducttape), then rerun")


def _origin(r, matched, pkeys):
    k = (r.task.name, r.key)
    if k in matched:
        return ""
    return " [downstream" + ("" if k in pkeys else ", outside the selected plans") + "]"


def _by_task(rs):
    counts = {}
    for r in rs:
        counts[r.task.name] = counts.get(r.task.name, 0) + 1
    return ", ".join(f"{n} {t}" for t, n in counts.items())


def _no_match(wf, planned, task, reals, mode):
    """The error for globs that select nothing: a typo in a task or branch name must not look
    like "nothing to do" (exit 0), so say which tasks and realizations do exist."""
    rx = glob_regex(task)
    names = [t.name for t in wf.order]
    in_plan = [n for n in names if any(r.task.name == n for r in planned)]
    which = ""
    if wf.selected_plans:
        which = (f" in plan{'s' if len(wf.selected_plans) != 1 else ''} "
                 + ", ".join(wf.selected_plans))
    if not any(rx.match(n) for n in names):
        close = difflib.get_close_matches(task, names, n=1)
        return DucttapeError(f"{mode}: no task is named '{task}'"
                             + (f" (did you mean {close[0]}?)" if close else ""),
                             hint="one of the workflow's tasks: " + ", ".join(names))
    if not any(rx.match(n) for n in in_plan):
        return DucttapeError(f"{mode}: task '{task}' is not planned{which}",
                             hint="a planned task (" + ", ".join(in_plan) + "), or select its "
                                  "plan with -p")
    matched = [r for r in planned if rx.match(r.task.name)]
    one_task = len({r.task.name for r in matched}) == 1
    keys = [r.key if one_task else f"{r.task.name}/{r.key}" for r in matched]
    shown = ", ".join(keys[:30]) + (f", ... ({len(keys)} in all)" if len(keys) > 30 else "")
    return DucttapeError(f"{mode}: no planned realization of '{task}' matches "
                         f"{' '.join(repr(g) for g in reals)}",
                         hint="one of: " + shown + " (or '*')")


def mode_invalidate(wf, planned, args, opts):
    from .execute import next_version
    matched = {(r.task.name, r.key) for r in _victims(wf, planned, args, "invalidate", False)}
    pkeys = {(r.task.name, r.key) for r in planned}
    rs = [r for r in _victims(wf, planned, args, "invalidate") if _has_state(wf, r)]
    if not rs:
        log(f"Nothing to invalidate: the matching tasks have not run yet (no directory under "
            f"{wf.out})")
        return 0
    for r in rs:
        what = f"{r.dir} ({r.full})" if os.path.isdir(r.dir) else f"{r.task.name}/{r.key}"
        log(f"INVALIDATE: {what}{_origin(r, matched, pkeys)}")
        rd = resume_dir(wf, r)
        if rd and os.path.lexists(rd):
            log(f"  and move its resumable state to the attic: {rd}")
    down = [r for r in rs if (r.task.name, r.key) not in matched]
    outside = [r for r in down if (r.task.name, r.key) not in pkeys]
    log(f"{len(rs)} task(s) to invalidate: {len(rs) - len(down)} matched, {len(down)} downstream"
        + (f" ({len(outside)} outside the selected plans: {_by_task(outside)})" if outside else ""))
    _refuse_running(rs, "invalidate")
    if opts.dry_run:
        return 0
    if not _ask("Are you sure you want to invalidate all these?", opts):
        return 0
    version = next_version(wf.out)
    for r in rs:
        if os.path.isdir(r.dir):
            log(f"Invalidating {r.task.name}/{r.key}")
            open(os.path.join(r.dir, "ducttape.INVALIDATED"), "w").close()
        _move_resume_state(wf, r, version)
    log(f"Invalidated {len(rs)} task(s)")
    return 0


def mode_purge(wf, planned, args, opts):
    """Move the matching task directories (and their descendants', and their resumable state)
    to OUT/.attic/N, N being the version the next run will take: a purge is undoable, and
    deleting OUT/.attic is how to free the space. Without a task named it refuses: "every task
    of every plan" must be asked for as `purge '*'`."""
    from .execute import next_version
    matched = {(r.task.name, r.key) for r in _victims(wf, planned, args, "purge", False)}
    pkeys = {(r.task.name, r.key) for r in planned}
    rs = [r for r in _victims(wf, planned, args, "purge") if _has_state(wf, r)]
    if not rs:
        log(f"Nothing to purge: the matching tasks have not run yet (no directory under "
            f"{wf.out})")
        return 0
    if not args:
        raise DucttapeError(f"purge without a task name matches every planned task: it would "
                            f"move {len(rs)} task director{'y' if len(rs) == 1 else 'ies'} "
                            f"under {wf.out} to the attic ({_by_task(rs)})",
                            hint=f"name what to purge: ducttape {os.path.basename(wf.path)} "
                                 "purge TASK [REALIZATION...]; to purge every task, say so "
                                 "with purge '*'")
    version = next_version(wf.out)
    attic = os.path.join(wf.out, ".attic", str(version))
    for r in rs:
        what = f"{r.dir} ({r.full})" if os.path.lexists(r.dir) else f"{r.task.name}/{r.key}"
        log(f"PURGE (move to the attic): {what}{_origin(r, matched, pkeys)}")
        rd = resume_dir(wf, r)
        if rd and os.path.lexists(rd):
            log(f"  and its resumable state: {rd}")
    log(f"{len(rs)} task(s) to purge ({_by_task(rs)}) into {attic}")
    _refuse_running(rs, "purge")
    if opts.dry_run:
        return 0
    if not _ask(f"Are you sure you want to move these {len(rs)} tasks to the attic?", opts):
        return 0
    for r in rs:
        if os.path.lexists(r.dir):
            rel = r.task.name if wf.flat else os.path.join(r.task.name, r.dirname)
            dest = _to_attic(wf, r.dir, rel, version)
            log(f"Moved {r.task.name}/{r.key} to the attic: {dest}")
        if not wf.flat and r.full != r.key:
            link = os.path.join(wf.out, r.task.name, r.full)
            if os.path.islink(link):
                os.unlink(link)
        _move_resume_state(wf, r, version)
    log(f"Purged {len(rs)} task(s) into {attic} (delete it to free the space)")
    return 0


def mode_mark_done(wf, planned, args, opts):
    rs = [r for r in _victims(wf, planned, args, "mark_done", descendants=False)
          if not completion(r)[0]]
    if not rs:
        log("No matching incomplete tasks")
        return 0
    for r in rs:
        log(f"MARK DONE: {r.dir} ({r.full})")
    if opts.dry_run:
        return 0
    if not _ask(f"Are you sure you want to mark these {len(rs)} tasks as done?", opts):
        return 0
    status = 0
    from .execute import make_symlink
    for r in rs:
        missing = [r.out_path(n) for n, _, _ in r.task.outputs if not os.path.exists(r.out_path(n))]
        if missing:
            log(f"WARNING: Failed to force completion of {r.task.name}/{r.key}: missing outputs "
                + ", ".join(missing))
            status = 1
            continue
        os.makedirs(r.dir, exist_ok=True)
        make_symlink(r)
        for fn in ("ducttape_stdout.txt", "ducttape_stderr.txt"):
            p = os.path.join(r.dir, fn)
            if not os.path.exists(p):
                open(p, "w").close()
        with open(os.path.join(r.dir, "ducttape_exit_code.txt"), "w") as f:
            f.write("0")
        inv = os.path.join(r.dir, "ducttape.INVALIDATED")
        if os.path.exists(inv):
            os.unlink(inv)
        log(f"Marked {r.task.name}/{r.key} as done")
    return status


def mode_unlock(wf, planned, args, opts):
    rs = [r for r in _victims(wf, planned, args, "unlock", descendants=False)
          if os.path.lexists(r.lock_path)]
    if not rs:
        log("No matching locked tasks")
        return 0
    states = [(r,) + lock_info(r.lock_path) for r in rs]
    held = [(r, h) for r, st, h in states if st == "held"]
    for r, st, h in states:
        if st == "unknown" and h.host:
            log(f"WARNING: {r.lock_path} names {h.describe()}, which cannot be checked from "
                "this host: make sure that run has ended")
    if held and not getattr(opts, "force", False):
        # the engine (or a task that outlived it) still runs: removing its lock would let a
        # second copy start in the same directory
        raise DucttapeError(
            "Refusing to unlock locks held by live processes:\n" + "\n".join(
                f"  {r.task.name}/{r.key}: {h.describe()} ({r.lock_path})" for r, h in held),
            hint="wait for that run to finish or stop it; --force unlocks anyway (only if you "
                 "are sure those processes are not running this task)")
    for r in rs:
        log(f"UNLOCK: {r.lock_path}")
    if opts.dry_run:
        return 0
    if not _ask(f"Are you sure you want to FORCE UNLOCK these {len(rs)} tasks? (only do this if no "
                "other ducttape process is running them)", opts):
        return 0
    for r in rs:
        try:
            os.unlink(r.lock_path)
            log(f"Unlocked {r.task.name}/{r.key}")
        except FileNotFoundError:
            pass
    return 0


def _ask(q, opts):
    try:
        yes = confirm(q, opts.yes)
    except EOFError:
        log("Doing nothing")
        raise SystemExit(1)
    if not yes:
        log("Doing nothing")
    return yes


def mode_versions(wf, planned, args, opts):
    vdir = os.path.join(wf.out, ".versions")
    if not os.path.isdir(vdir):
        log("No previous workflow versions")
        return 0
    for name in sorted((n for n in os.listdir(vdir) if n.isdigit()), key=int):
        manifest = os.path.join(vdir, name, "manifest.txt")
        todo = existing = 0
        try:
            with open(manifest) as f:
                for line in f:
                    if line.startswith("todo"):
                        todo += 1
                    elif line.startswith("existing"):
                        existing += 1
        except OSError:
            log(f"WARNING: unreadable version directory {os.path.join(vdir, name)}")
            continue
        sys.stdout.write(f"version {name}: {todo} run, {existing} already complete\n")
    return 0


# ----------------------------------------------------------------------------------------------
# summary
# ----------------------------------------------------------------------------------------------

def mode_summary(wf, planned, args, opts):
    import subprocess
    import tempfile
    blocks = wf.summaries
    if args:
        names = set(args)
        unknown = names - {b.name for b in blocks}
        if unknown:
            raise DucttapeError(f"No such summary: {', '.join(sorted(unknown))}",
                                hint="one of: " + (", ".join(b.name for b in blocks) or
                                                   "(the workflow defines no summary blocks)"))
        blocks = [b for b in blocks if b.name in names]
    if not blocks:
        raise DucttapeError("The workflow defines no summary blocks",
                            hint="summary NAME {\n  of TASK > column1 column2 {\n    ...write one "
                                 "line into $column1...\n  }\n}")
    first = True
    status = 0
    for block in blocks:
        for of in block.children:
            task = wf.task_by_name.get(of.name)
            if task is None:
                raise of.pos.error(f"Summary '{block.name}' refers to unknown task '{of.name}'")
            cols = sorted(s.name for s in of.outputs)
            rows = []
            for r in planned:
                if r.task is not task or not completion(r)[0]:
                    continue
                vals = {}
                with tempfile.TemporaryDirectory(prefix="ducttape-summary-") as tmp:
                    env = dict(os.environ)
                    env.update(dict(r.env()))
                    for p in of.params:
                        if p.value is not None and hasattr(p.value, "value"):
                            env[p.name] = p.value.value
                    env["TASK_DIR"] = r.dir
                    env["TASK"] = r.task.name
                    env["REALIZATION"] = r.key
                    for c in cols:
                        env[c] = os.path.join(tmp, c)
                    proc = subprocess.run(["bash", "-c", PREAMBLE + (of.body or "")], cwd=tmp,
                                          env=env, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    if proc.returncode != 0:
                        log(f"WARNING: summary {block.name} of {task.name}/{r.key} failed "
                            f"(exit code {proc.returncode}): "
                            + proc.stderr.decode("utf-8", "replace").strip()[-500:])
                        status = 1
                    for c in cols:
                        p = os.path.join(tmp, c)
                        try:
                            with open(p, encoding="utf-8") as f:
                                lines = [ln for ln in f.read().split("\n") if ln.strip() != ""]
                        except OSError:
                            lines = []
                        if len(lines) == 1:
                            vals[c] = lines[0].strip()
                        else:
                            if lines:
                                log(f"WARNING: summary {block.name}: {c} of {task.name}/{r.key} "
                                    f"has {len(lines)} lines, expected exactly one")
                            vals[c] = "--"
                rows.append((r, vals))
            if not first:
                sys.stdout.write("\n")
            first = False
            _print_summary(wf, block.name, task, rows, cols)
    return status


def _print_summary(wf, name, task, rows, cols):
    bps = sorted({bp for r, _ in rows for bp in r.real})
    variable, constant = [], []
    for bp in bps:
        values = {r.real.get(bp, wf.bps[bp].baseline) for r, _ in rows}
        (variable if len(values) > 1 else constant).append(bp)
    out = [f"# Summary: {name} (task {task.name})"]
    for bp in constant:
        b = rows[0][0].real.get(bp, wf.bps[bp].baseline)
        out.append(f"# Constant branch point: {bp}={bp}.{b}")
    out.append("# Variable branch points: " + " ".join(variable))
    header = (variable or ["realization"]) + cols
    out.append("\t".join(header))
    def order(rv):
        key = []
        for bp in variable:
            info = wf.bps[bp]
            b = rv[0].real.get(bp, info.baseline)
            key.append(info.branches.index(b) if b in info.branches else len(info.branches))
        return key
    rows.sort(key=order)
    for r, vals in rows:
        if variable:
            cells = [r.real.get(bp, wf.bps[bp].baseline) for bp in variable]
        else:
            cells = [r.key]
        cells += [vals.get(c, "--") for c in cols]
        out.append("\t".join(cells))
    sys.stdout.write("\n".join(out) + "\n")


def mode_update(wf, planned, args, opts):
    from .packages import find_versions, build
    names = sorted(wf.packages) if not args else args
    unknown = [n for n in names if n not in wf.packages]
    if unknown:
        raise DucttapeError(f"No such package: {', '.join(unknown)}")
    if not names:
        log("The workflow defines no packages")
        return 0
    found = find_versions(wf, names, update=True)
    todo = [(n, v) for n, (v, built) in found.items() if not built]
    for n, (v, built) in found.items():
        log(f"{'BUILD' if not built else 'UP TO DATE'}: {n} ({v})")
    if not todo:
        return 0
    if opts.dry_run or not _ask(f"Are you sure you want to build these {len(todo)} packages?", opts):
        return 0
    for n, v in todo:
        build(wf, n, v)
    return 0


MODES = {
    "update": mode_update,
    "list": mode_list,
    "explain": mode_explain,
    "env": mode_env,
    "commands": mode_commands,
    "viz": mode_viz,
    "summary": mode_summary,
    "invalidate": mode_invalidate,
    "purge": mode_purge,
    "mark_done": mode_mark_done,
    "unlock": mode_unlock,
    "versions": mode_versions,
}
