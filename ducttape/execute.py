"""Running realized tasks: completion checks, locks, the attic, versions, the scheduler (§2.10-§3.9)."""

import os
import sys
import threading
from dataclasses import dataclass

from .errors import DucttapeError, ErrorList

PREAMBLE = "set -e\nset -o pipefail\nset -u\n"
_print_lock = threading.Lock()


def log(msg=""):
    with _print_lock:
        try:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()
        except OSError:  # a hung-up terminal (EIO) must not stop the cleanup that follows
            pass


def _hostname():
    import socket
    return socket.gethostname()


# ----------------------------------------------------------------------------------------------
# completion
# ----------------------------------------------------------------------------------------------

def completion(r):
    """(complete, reason): reason is None when the task directory does not exist at all."""
    d = r.dir
    if not os.path.isdir(d):
        return False, None
    if os.path.exists(os.path.join(d, "ducttape.INVALIDATED")):
        return False, "Previous version is complete, but invalidated"
    ec = os.path.join(d, "ducttape_exit_code.txt")
    try:
        with open(ec) as f:
            first = f.readline().strip()
    except OSError:
        return False, "Exit code file does not exist"
    if first != "0":
        return False, "Non-zero exit code"
    if not os.path.exists(os.path.join(d, "ducttape_stdout.txt")):
        return False, "Stdout file does not exist"
    if not os.path.exists(os.path.join(d, "ducttape_stderr.txt")):
        return False, "Stderr file does not exist"
    for name, _, _ in r.task.outputs:
        p = r.out_path(name)
        if not os.path.exists(p):
            return False, f"{p} does not exist"
    return True, None


def missing_outputs(r):
    return [r.out_path(n) for n, _, _ in r.task.outputs if not os.path.exists(r.out_path(n))]


def check_inputs(planned):
    import glob
    errors = []
    seen = set()
    for r in planned:
        for var, path, pos in r.literals:
            key = (path, var, r.task.name)
            if key in seen:
                continue
            seen.add(key)
            if any(c in path for c in "*?["):
                ok = bool(glob.glob(path))
            else:
                ok = os.path.exists(path)
            if not ok:
                spec = next((s for n, _, _, s in r.task.vars if n == var), None)
                req = spec.pos if spec is not None else r.task.pos
                e = req.error(f"Input file not found: {path} required at {req}, defined at {pos}",
                              "create the file, or fix the path (relative paths are resolved "
                              "against the directory of the file that defines them)")
                errors.append(e)
    if errors:
        raise ErrorList(errors)


# ----------------------------------------------------------------------------------------------
# locks
# ----------------------------------------------------------------------------------------------

def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _stat(pid):
    """/proc/<pid>/stat fields after the command name (state, ppid, pgrp, ...), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()


def proc_start(pid):
    """The start time of a process (clock ticks since boot, from /proc), or "" where unknown:
    with the pid it names one process, whatever pids are reused later."""
    fields = _stat(pid)
    return fields[19].decode() if fields else ""


def _pid_alive(pid, start):
    """True/False for the process `pid` started at `start` ("" = any start time). A zombie is
    dead: it has exited, and is only waiting for its parent (or a slow init) to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc: trust kill(0)
    if fields[0] == b"Z":
        return False
    return not (start and fields[19].decode() != start)


def _group_alive(pgid, start):
    """Is any process of the task's process group alive? Its leader may have exited while its
    children run on; the kernel never reuses a pid that still names a process group."""
    if _pid_alive(pgid, start):
        return True
    if _stat(pgid) is not None and _stat(pgid)[0] != b"Z":
        return False  # the leader's pid now names another process: the old group is gone
    try:
        names = os.listdir("/proc")
    except OSError:
        names = None
    if names is None:  # no /proc: ask the kernel
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    for name in names:
        if name.isdigit():
            fields = _stat(name)
            if fields and fields[2] == str(pgid).encode() and fields[0] != b"Z":
                return True
    return False


@dataclass
class Holder:
    """Who holds a lock file: written as `key=value` lines (read back from 0.3's `host:pid`)."""

    fields: dict

    @classmethod
    def parse(cls, text):
        text = text.strip()
        if "=" not in text:
            host, _, pid = text.rpartition(":")
            return cls({"host": host, "engine_pid": pid} if pid.isdigit() else {})
        fields = {}
        for line in text.splitlines():
            k, eq, v = line.partition("=")
            if eq:
                fields[k.strip()] = v.strip()
        return cls(fields)

    def get_int(self, key):
        v = self.fields.get(key, "")
        return int(v) if v.isdigit() else None

    @property
    def host(self):
        return self.fields.get("host", "")

    def local(self):
        return bool(self.host) and self.host == _hostname()

    def alive_pids(self):
        """The recorded processes still alive (this host only): [(what, pid)]."""
        boot = self.fields.get("boot")
        if not self.local() or (boot and boot != _boot_id()):
            return []
        out = []
        task = self.get_int("task_pgid")
        if task is not None and _group_alive(task, self.fields.get("task_start", "")):
            out.append(("task process group", task))
        engine = self.get_int("engine_pid")
        if engine is not None and _pid_alive(engine, self.fields.get("engine_start", "")):
            out.append(("ducttape engine", engine))
        return out

    def describe(self):
        parts = []
        for what, key in (("task process group", "task_pgid"), ("ducttape engine pid", "engine_pid")):
            if self.fields.get(key):
                parts.append(f"{what} {self.fields[key]}")
        where = f" on host {self.host}" if self.host else ""
        return (", ".join(parts) or "an unknown process") + where


def _holder_text(task_pgid=None):
    me = os.getpid()
    lines = [f"host={_hostname()}", f"boot={_boot_id()}", f"engine_pid={me}",
             f"engine_start={proc_start(me)}"]
    if task_pgid is not None:
        lines += [f"task_pgid={task_pgid}", f"task_start={proc_start(task_pgid)}"]
    return "\n".join(lines) + "\n"


class Lock:
    """`OUT/<task>/<real>.LOCK`: `flock`-ed by the engine and by the task's supervisor (so it is
    held while any process of the task lives), content = the holder (host, boot, pids and their
    start times) so that a lock nobody `flock`s can still be checked for a live task."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.live_holder = None  # set when try_acquire refused a lock whose holder still runs

    def try_acquire(self, blocking=False):
        import fcntl
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            # the holder may have deleted the file while we waited: make sure we locked the
            # file that is at the path now
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                os.close(fd)
                continue
            if st.st_ino != os.fstat(fd).st_ino:
                os.close(fd)
                continue
            # flock is free, but a task that outlived its engine (one started by an older
            # ducttape, or one that escaped its supervisor) must not get a second copy
            holder = Holder.parse(os.read(fd, 4096).decode("utf-8", "replace"))
            if any(what == "task process group" for what, _ in holder.alive_pids()):
                os.close(fd)
                self.live_holder = holder
                return False
            self._write(fd, _holder_text())
            self.fd = fd
            return True

    @staticmethod
    def _write(fd, text):
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, text.encode())

    def record_task(self, pgid):
        """Add the running task's process group (and its start time) to the lock file."""
        if self.fd is not None:
            self._write(self.fd, _holder_text(pgid))

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


def lock_info(path):
    """(state, Holder): state is None (no lock file), 'held' (flock-ed, or a recorded process of
    this host still alive), 'stale' (holder gone, this host) or 'unknown' (a lock file nobody
    flocks whose owner cannot be checked from here)."""
    import fcntl
    if not os.path.exists(path):
        return None, Holder({})
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None, Holder({})
    try:
        content = os.read(fd, 4096).decode("utf-8", "replace")
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return "held", Holder.parse(content)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    holder = Holder.parse(content)
    if holder.alive_pids():
        return "held", holder
    if holder.local() and holder.get_int("engine_pid") is not None:
        return "stale", holder
    return "unknown", holder


def lock_state(path):
    return lock_info(path)[0]


# ----------------------------------------------------------------------------------------------
# versions and the attic
# ----------------------------------------------------------------------------------------------

def next_version(out):
    vdir = os.path.join(out, ".versions")
    n = 0
    if os.path.isdir(vdir):
        for name in os.listdir(vdir):
            if name.isdigit():
                n = max(n, int(name))
    return n + 1


def write_version(wf, version, todo, done):
    vdir = os.path.join(wf.out, ".versions", str(version))
    os.makedirs(vdir, exist_ok=True)
    with open(os.path.join(vdir, "workflow.tape"), "w", encoding="utf-8") as f:
        for path in wf.files:
            f.write(f"### {path} ###\n")
            try:
                with open(path, encoding="utf-8") as src:
                    text = src.read()
            except OSError:
                text = ""
            f.write(text)
            if not text.endswith("\n"):
                f.write("\n")
    with open(os.path.join(vdir, "pid.txt"), "w") as f:
        f.write(f"{_hostname()}:{os.getpid()}")
    with open(os.path.join(vdir, "manifest.txt"), "w") as f:
        for name, ver in sorted(getattr(wf, "package_versions", {}).items()):
            f.write(f"package\t{name}\t{ver}\n")
        for r in done:
            f.write(f"existing\t{r.task.name}/{r.key}/{version}\n")
        for r in todo:
            f.write(f"todo\t{r.task.name}/{r.key}/{version}\t{' '.join(r.task.packages)}\n")
    return vdir


def move_to_attic(wf, r, version):
    dest = os.path.join(wf.out, ".attic", str(version), r.task.name)
    if not wf.flat:
        dest = os.path.join(dest, r.dirname)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    final = dest
    k = 1
    while os.path.lexists(final):
        k += 1
        final = f"{dest}.{k}"
    os.rename(r.dir, final)
    return final


# ----------------------------------------------------------------------------------------------
# running one task
# ----------------------------------------------------------------------------------------------

def task_script(r):
    lines = ["# This script will try to run a task *outside* any specified submitter",
             "# Note: This script is for archival; it is not actually run by ducttape"]
    for name, value in r.env():
        lines.append(f"export {name}={_sh_single_quote(value)}")  # no $(...) runs by hand
    return "\n".join(lines) + "\n" + (r.task.body or "") + "\n"


def _where(pos):
    if pos is None or not getattr(pos, "file", None):
        return "?"
    f = pos.file
    if os.path.isabs(f):
        rel = os.path.relpath(f)
        f = rel if not rel.startswith("..") else f
    return f"{f}:{pos.line}"


def _trace(r, rv, lhs, grafts, depth=0):
    """How a header value reached this realization: steps such as `$it_lr (configs/x.tconf:42)`,
    following global variables, params of other tasks and the branches chosen."""
    from . import syntax as S
    if depth > 50:
        return []
    if isinstance(rv, S.Literal):
        return [f"written at {_where(rv.pos)}"]
    if isinstance(rv, S.Shorthand):
        rv = S.VarRef(lhs, rv.task, rv.grafts, rv.pos)
    if isinstance(rv, S.VarRef):
        g2 = dict(grafts)
        g2.update({bp: b for bp, b in (rv.grafts or ()) if b != "*"})
        if rv.task is None:
            spec = r.wf.globals.get(rv.name)
            if spec is None:
                return [f"${rv.name}"]
            return [f"${rv.name} ({_where(spec.pos)})"] + _trace(r, spec.value, rv.name, g2,
                                                               depth + 1)
        src = r.wf.tasks.get(rv.task)
        target = {s.name: s for s in src.ordered}.get(rv.name) if src is not None else None
        if target is None or target.kind == "out":
            return [f"output {rv.name} of task {rv.task}"]
        return [f"{rv.name}@{rv.task} ({_where(target.pos)})"] + _trace(r, target.value, rv.name,
                                                                       g2, depth + 1)
    if isinstance(rv, S.Sequence):
        b = grafts.get(rv.name, r.real.get(rv.name, "?"))
        return [f"branch {rv.name}.{b} of ({rv.name}: {rv.start}..{rv.end}) at {_where(rv.pos)}"]
    if isinstance(rv, S.BranchPoint):
        b = grafts.get(rv.name, r.real.get(rv.name))
        for bn, v, pos in rv.branches:
            if bn == b:
                return [f"branch {rv.name}.{bn} ({_where(pos)})"] + _trace(r, v, lhs, grafts,
                                                                         depth + 1)
        return [f"branch point {rv.name} at {_where(rv.pos)}"]
    return []


def provenance(r):
    """One line per parameter and input of a realized task: its value and where it came from,
    so that a task's own complaint ("--lr 0 must be > 0") leads to the config line to fix."""
    lines = []
    for name, kind, _, spec in r.task.vars:
        value = r.values.get(name, "")
        try:
            steps = _trace(r, spec.value, name, {})
        except Exception:  # noqa: BLE001 - a report must never hide the failure it reports
            steps = []
        # a literal right where the variable is defined adds nothing to the definition's line
        if len(steps) >= 2 and steps[-1].startswith("written at "):
            steps = steps[:-1]
        src = " <- ".join(steps) if steps else f"defined at {_where(spec.pos)}"
        lines.append(f"    {'.' if spec.dot else ''}{name}={value}  <- {src}"
                     if steps and not steps[0].startswith("written at ")
                     else f"    {'.' if spec.dot else ''}{name}={value}  ({src})")
    return lines


def _sh_single_quote(value):
    """'value' for bash, with ' as '\\'': nothing inside is expanded (shlex.quote, but always
    quoted, so every export line looks alike)."""
    return "'" + value.replace("'", "'\\''") + "'"


def make_symlink(r):
    if r.wf.flat or not r.real or r.full == r.key or len(r.full) > 250:
        return
    link = os.path.join(r.wf.out, r.task.name, r.full)
    target = r.dirname
    try:
        if os.path.islink(link):
            if os.readlink(link) == target:
                return
            os.unlink(link)
        elif os.path.exists(link):
            return
        os.symlink(target, link)
    except OSError as e:
        log(f"WARNING: could not create symlink {link}: {e}")


class Runner:
    """Runs realized tasks through their submitter; knows how to stop them on Ctrl-C."""

    def __init__(self, wf, echo=True):
        self.wf = wf
        self.echo = echo
        self.procs = {}
        self.lock = threading.Lock()
        self.interrupted = False

    def submitter_of(self, r):
        name = r.values.get("submitter", "shell") if "submitter" in r.task.dot_params else "shell"
        return name, self.wf.submitters[name]

    def environment(self, r):
        env = dict(os.environ)
        tv = r.env()
        for name, value in tv:
            env[name] = value
        name, sub = self.submitter_of(r)
        tvd = dict(tv)
        for p in sub.header.params:
            if p.name not in tvd and p.name not in ("COMMANDS", "TASK_VARIABLES", "TASK",
                                                    "REALIZATION", "CONFIGURATION"):
                env[p.name] = ""
        env["TASK"] = r.task.name
        env["REALIZATION"] = r.key
        env["CONFIGURATION"] = self.wf.config_name
        env["COMMANDS"] = r.task.body or ""
        env["TASK_VARIABLES"] = "\n".join(f"{n}={v}" for n, v in tv)
        return env, name, sub

    def spawn(self, script, d, env, lock):
        """Start the task's bash under a supervisor (ducttape/supervise.py) in a new session:
        its process group is the task's. The supervisor watches a pipe whose write end only
        this process holds, and kills the whole task when it reads EOF, i.e. when the engine
        dies however it dies (kill -9 included); it also keeps the task's lock flock-ed."""
        import subprocess
        supervisor = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervise.py")
        watch_r, watch_w = os.pipe()  # both non-inheritable: no other child gets watch_w
        keep = lock.fd if lock is not None and lock.fd is not None else -1
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", supervisor, str(watch_r), str(keep), "--",
                 "bash", "-c", script],
                cwd=d, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True,
                pass_fds=(watch_r,) + ((keep,) if keep >= 0 else ()))
        except BaseException:
            os.close(watch_w)
            raise
        finally:
            os.close(watch_r)
        proc.watch_fd = watch_w  # closed once the task has ended (see run)
        if lock is not None:
            lock.record_task(proc.pid)
        return proc

    def run(self, r, lock=None):
        """Run one realized task in its (fresh) directory. Returns (ok, message)."""
        import selectors
        d = r.dir
        os.makedirs(d, exist_ok=True)
        make_symlink(r)
        with open(os.path.join(d, "ducttape_task.sh"), "w", encoding="utf-8") as f:
            f.write(task_script(r))
        env, sname, sub = self.environment(r)
        run_action = next(a for a in sub.children if a.name == "run")
        script = PREAMBLE + (run_action.body or "")
        prefix = f"{r.task.name}/{r.key}: ".encode()
        out_f = open(os.path.join(d, "ducttape_stdout.txt"), "wb")
        err_f = open(os.path.join(d, "ducttape_stderr.txt"), "wb")
        proc = None
        try:
            with self.lock:
                if self.interrupted:
                    return False, "interrupted before it started"
                proc = self.spawn(script, d, env, lock)
                self.procs[id(r)] = proc
            sel = selectors.DefaultSelector()
            sinks = {proc.stdout.fileno(): [out_f, sys.stdout, b"", False],
                     proc.stderr.fileno(): [err_f, sys.stderr, b"", False]}
            for fd in sinks:
                sel.register(fd, selectors.EVENT_READ)
            open_fds = len(sinks)
            while open_fds:
                for key, _ in sel.select():
                    fd = key.fd
                    sink = sinks[fd]
                    data = os.read(fd, 65536)
                    if not data:
                        sel.unregister(fd)
                        open_fds -= 1
                        if sink[2]:
                            sink[0].write(b"\n")
                            self._echo(sink[1], prefix, sink[2] + b"\n")
                            sink[2] = b""
                        continue
                    sink[0].write(data)
                    sink[0].flush()
                    buf = sink[2] + data
                    cut = buf.rfind(b"\n")
                    if cut >= 0:
                        self._echo(sink[1], prefix, buf[:cut + 1])
                        sink[2] = buf[cut + 1:]
                    else:
                        sink[2] = buf
            sel.close()
            rc = proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        finally:
            if proc is not None:  # an engine error stops the task too (the supervisor sees EOF)
                os.close(proc.watch_fd)
            out_f.close()
            err_f.close()
            with self.lock:
                self.procs.pop(id(r), None)
        if rc < 0:
            rc = 128 - rc
        with open(os.path.join(d, "ducttape_exit_code.txt"), "w") as f:
            f.write(str(rc))
        if rc != 0:
            msg = f"Task {r.task.name}/{r.key} failed (exit code {rc}; see {d}/ducttape_stderr.txt)"
            values = provenance(r)
            if values:
                msg += "\n  the values it received, and where they came from:\n" + "\n".join(values)
            return False, msg
        missing = missing_outputs(r)
        if missing:
            for m in missing:
                log(f"{r.task.name}/{r.key}: {m} does not exist")
            return False, ("Task completed, but did not satisfy post-conditions. Check output: "
                           f"{d} (missing: {', '.join(os.path.basename(m) for m in missing)})")
        return True, None

    def _echo(self, stream, prefix, data):
        if not self.echo:
            return
        out = b"".join(prefix + line + b"\n" for line in data.split(b"\n")[:-1])
        with _print_lock:
            try:
                stream.flush()
                stream.buffer.write(out)
                stream.buffer.flush()
            except (AttributeError, ValueError):
                stream.write(out.decode("utf-8", "replace"))

    def terminate_all(self, grace=5.0):
        import signal
        import time
        with self.lock:
            self.interrupted = True
            procs = list(self.procs.values())
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.time() + grace
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.time()))
            except Exception:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


# ----------------------------------------------------------------------------------------------
# exec mode
# ----------------------------------------------------------------------------------------------

def confirm(question, assume_yes):
    if assume_yes:
        return True
    with _print_lock:
        sys.stderr.write(question + " [y/n] ")
        sys.stderr.flush()
    line = sys.stdin.readline()
    if line == "":
        log("")
        log("No answer: standard input is closed. Run with -y to answer yes without a prompt.")
        raise EOFError
    return line.strip().lower() in ("y", "yes", "t", "true")


def describe(r):
    return f"{r.dir} ({r.full})" if not r.wf.flat else r.dir


def resources(r):
    """`via SUBMITTER: name=value ...` for a task sent to a non-shell submitter (dry runs show it,
    so a cluster plan can be checked before anything is queued); "" for the local shell."""
    name = r.values.get("submitter", "shell") if "submitter" in r.task.dot_params else "shell"
    if name == "shell":
        return ""
    vals = [f"{k}={r.values[k]}" for k in r.task.dot_params if k != "submitter" and r.values.get(k)]
    return f"via {name}: " + " ".join(vals)


def lock_state_flock_free(r):
    """True when nobody flocks the task's lock: its recorded task outlived its engine."""
    import fcntl
    try:
        fd = os.open(r.lock_path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def wait_for_orphans_to_stop(todo, seconds=20.0):
    """A rerun started right after its engine died (kill -9, an OOM kill) finds the old tasks'
    locks still held: their supervisors are stopping them (TERM, then KILL after
    supervise.GRACE), which takes a few seconds. Wait for those (local holders whose engine is
    dead) instead of calling them another ducttape's; whatever still lives after ``seconds`` is
    refused below as before."""
    import time

    def dying():
        out = []
        for r in todo:
            st, holder = lock_info(r.lock_path)
            alive = {what for what, _ in holder.alive_pids()}
            # flock-ed: the supervisor still lives (it stops the task, then lets go); flock free
            # with the task alive is a real orphan, refused at once below
            if (st == "held" and holder.local() and "ducttape engine" not in alive
                    and not lock_state_flock_free(r)):
                out.append(r)
        return out

    waiting = dying()
    if waiting:
        log(f"Waiting up to {seconds:.0f} s for {len(waiting)} task(s) of a ducttape process that "
            f"is gone to stop (e.g. {waiting[0].task.name}/{waiting[0].key})...")
        deadline = time.time() + seconds
        while waiting and time.time() < deadline:
            time.sleep(0.2)
            waiting = dying()


def still_running(wf, running):
    """The error for tasks whose processes still live: never a second copy of a live task (it
    would write into the same directory as the first); say which process, and what to do."""
    lines = []
    for r, h in running:
        pgid = next(pid for what, pid in h.alive_pids() if what == "task process group")
        lines.append(f"  {r.task.name}/{r.key}: process group {pgid} on host {h.host} "
                     f"(lock {r.lock_path})")
    r0, h0 = running[0]
    pgid0 = next(pid for what, pid in h0.alive_pids() if what == "task process group")
    return DucttapeError(
        "Refusing to start a second copy of a task that is still running:\n" + "\n".join(lines),
        hint=f"wait for it to finish, or stop it (kill -TERM -{pgid0}) and rerun; only if you are "
             f"sure it is not this task's process: ducttape {os.path.relpath(wf.path)} unlock "
             f"{r0.task.name} '{r0.key}' --force")


def exec_mode(wf, planned, opts):
    todo, done = [], []
    for r in planned:
        ok, reason = completion(r)
        if ok:
            done.append(r)
        else:
            todo.append(r)
            if reason:
                log(f"Task incomplete: {r.dir} ({r.key}): {reason}")
    if not todo:
        log("All tasks to complete -- nothing to do")
        return 0
    check_inputs(planned)
    pkgs = sorted({p for r in todo for p in r.task.packages})
    to_build = []
    if pkgs:
        from .packages import find_versions
        log("Finding packages...")
        found = find_versions(wf, pkgs)
        wf.package_versions = {n: v for n, (v, _) in found.items()}
        to_build = [(n, v) for n, (v, built) in found.items() if not built]
        log(f"Found {len(pkgs)} packages")
    wait_for_orphans_to_stop(todo)
    locked, stale, running = [], [], []
    for r in todo:
        st, holder = lock_info(r.lock_path)
        if st == "held" or st == "unknown":
            locked.append((r, st))
            if (any(what == "task process group" for what, _ in holder.alive_pids())
                    and lock_state_flock_free(r)):
                running.append((r, holder))
        elif st == "stale":
            stale.append(r)
    if running:  # even with multiproc: no engine will ever release these
        raise still_running(wf, running)
    if locked and not wf.multiproc:
        lines = "\n".join(f"  {r.lock_path} (task {r.task.name}/{r.key}, held by "
                          f"{lock_info(r.lock_path)[1].describe()})" for r, _ in locked)
        raise DucttapeError(
            "It appears another ducttape process currently holds locks for this workflow:\n"
            + lines,
            hint="If no other ducttape process is running on this output directory, remove the "
                 f"locks with: ducttape {os.path.relpath(wf.path)} unlock (or set "
                 "ducttape_experimental_multiproc=true to wait for them)")
    locked_keys = {id(r) for r, _ in locked}
    partial = [r for r in todo if os.path.isdir(r.dir)]
    log("Work plan (depth-first traversal):" if opts.traversal == "d" else
        "Work plan:")
    for n, v in to_build:
        log(f"BUILD: {n} ({v})")
    for r in partial:
        log(f"MOVE TO ATTIC: {describe(r)}")
    for r in todo:
        if id(r) in locked_keys:
            log(f"WAIT FOR LOCK: {describe(r)}")
        log(f"RUN: {describe(r)}")
        if opts.dry_run and resources(r):
            log(f"     {resources(r)}")
    if opts.dry_run:
        log(f"Dry run: {len(todo)} task(s) would run; nothing was changed")
        return 0
    if partial:
        q = (f"Are you sure you want to MOVE all this partial output to the attic and then run "
             f"these {len(todo)} tasks?")
    else:
        q = f"Are you sure you want to run these {len(todo)} tasks?"
    try:
        yes = confirm(q, opts.yes)
    except EOFError:
        log("Doing nothing")
        return 1
    if not yes:
        log("Doing nothing")
        return 0
    return execute(wf, todo, done, locked_keys, stale, opts, to_build)


def execute(wf, todo, done, locked_keys, stale, opts, to_build=()):
    version = next_version(wf.out)
    write_version(wf, version, todo, done)
    if to_build:
        from .packages import build
        for n, v in to_build:
            build(wf, n, v)
    for r in stale:
        log(f"WARNING: removing stale lock {r.lock_path} (the process that held it has exited)")
        try:
            os.unlink(r.lock_path)
        except FileNotFoundError:
            pass
    # Locks are taken lazily, right before each task runs, so that two processes sharing an
    # output directory (ducttape_experimental_multiproc) never wait on each other in a cycle.
    locks = {}
    waits = {id(r) for r in todo if id(r) in locked_keys}
    try:
        runner = Runner(wf, echo=not opts.quiet_tasks)
        return _schedule(wf, todo, locks, waits, runner, version, opts)
    finally:
        for lk in list(locks.values()):
            lk.release()


def _schedule(wf, todo, locks, waits, runner, version, opts):
    import queue
    import signal
    import time
    keyof = {id(r): (r.task.name, r.key) for r in todo}
    by_key = {keyof[id(r)]: r for r in todo}
    pending_deps = {}
    children = {k: [] for k in by_key}
    for r in todo:
        k = keyof[id(r)]
        deps = set()
        for d in r.deps:
            dk = (d.task.name, d.key)
            if dk in by_key and dk != k:
                deps.add(dk)
        pending_deps[k] = deps
        for dk in deps:
            children[dk].append(k)
    order = {keyof[id(r)]: i for i, r in enumerate(todo)}
    downstream = {}  # key -> number of tasks that (transitively) wait for it

    def count_downstream(k):
        if k not in downstream:
            seen, stack = set(), list(children[k])
            while stack:
                c = stack.pop()
                if c not in seen:
                    seen.add(c)
                    stack.extend(children[c])
            downstream[k] = len(seen)
        return downstream[k]

    def pick():
        """The next ready task. One job: traversal order, as ducttape 0.3. Several jobs: the
        one with the most tasks waiting downstream first (ties: traversal order), so that long
        chains such as a training run and its evaluations start before leaf tasks fill the
        slots: a shorter makespan, the same work."""
        if jobs == 1 or len(ready) == 1:
            return ready.pop() if opts.traversal == "d" else ready.pop(0)
        sign = 1 if opts.traversal == "d" else -1
        i = max(range(len(ready)), key=lambda j: (count_downstream(ready[j]), sign * j))
        return ready.pop(i)

    ready = [k for k in by_key if not pending_deps[k]]
    ready.sort(key=lambda k: order[k], reverse=(opts.traversal == "d"))
    results = queue.Queue()
    running = {}
    failed = []
    blocked = set()
    completed = 0
    stop_new = False
    jobs = max(1, opts.jobs)

    def worker(k):
        r = by_key[k]
        lk = Lock(r.lock_path)
        locks[id(r)] = lk
        try:
            got = lk.try_acquire()
            if not got and wf.multiproc and lk.live_holder is None:
                log(f"Waiting for lock on {r.task.name}/{r.key} held by another process")
                got = lk.try_acquire(blocking=True)
            if not got:
                if lk.live_holder is not None:
                    results.put((k, False, f"not starting a second copy: "
                                           f"{lk.live_holder.describe()} still runs it "
                                           f"(lock {r.lock_path})"))
                else:
                    results.put((k, False, f"another ducttape process holds {r.lock_path}"))
                return
            if os.path.isdir(r.dir):
                ok, _ = completion(r)
                if ok:
                    results.put((k, True, "completed by another process"))
                    return
            if os.path.lexists(r.dir):
                dest = move_to_attic(wf, r, version)
                log(f"Moving {r.task.name}/{r.key} to the attic: {dest}")
            log(f"Running {r.task.name}/{r.key}/{version} in {r.dir}")
            ok, msg = runner.run(r, lk)
            results.put((k, ok, msg))
        except BaseException as e:  # noqa: BLE001 - report any failure of the worker
            results.put((k, False, f"{type(e).__name__}: {e}"))
        finally:
            lk.release()
            locks.pop(id(r), None)

    # Ctrl-C and SIGTERM only set a flag, which the loop below checks at least every 0.5 s. A
    # KeyboardInterrupt raised by the default handler can land between a lock's acquire and the
    # `with` block that releases it (CPython's with statement is not atomic against signals):
    # the results queue's mutex then stays held, the workers block in `put`, and the engine
    # waited out its joins instead of exiting (the likely cause of the ctrl-c tests timing out
    # under load, Dec 2026).
    #
    # SIGHUP (the terminal or the ssh session went away) detaches: the run goes on, as under the
    # workflow's Slurm submitter (workflows/slurm.tape: "a two-week run outlives the terminal
    # that started it"). The engine's messages move to OUT/ducttape.hangup.log (the terminal is
    # gone: writing to it fails), and TERM or INT still cancel. A task never outlives its engine
    # either way (Runner.spawn): a detached engine keeps its tasks, a killed one takes them along.
    stop = threading.Event()
    got = []

    def on_signal(signum, frame):
        got.append(signum)
        stop.set()

    def on_hangup(signum, frame):
        try:
            fd = os.open(os.path.join(wf.out, "ducttape.hangup.log"),
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
        except OSError:
            pass
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        log(f"Hangup (SIGHUP) at {time.strftime('%Y-%m-%d %H:%M:%S')}: the terminal went away; "
            f"the run goes on detached (engine pid {os.getpid()}); its messages go to this file. "
            f"To cancel it: kill {os.getpid()} (TERM stops its tasks, as Ctrl-C does)")

    old_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old_handlers[sig] = signal.signal(sig, on_signal)
        if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:  # under nohup: already detached
            old_handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hangup)

    def restore_handlers():
        for sig, h in old_handlers.items():
            signal.signal(sig, h)
        old_handlers.clear()

    try:
        while ready or running:
            if stop.is_set():
                raise KeyboardInterrupt
            while not stop_new and ready and len(running) < jobs:
                k = pick()
                if k in blocked:
                    continue
                th = threading.Thread(target=worker, args=(k,), daemon=True)
                running[k] = th
                th.start()
            if not running:
                break
            while True:
                if stop.is_set():
                    raise KeyboardInterrupt
                try:
                    k, ok, msg = results.get(timeout=0.5)
                    break
                except queue.Empty:
                    continue
            running.pop(k).join()
            name = f"{k[0]}/{k[1]}/{version}"
            if ok:
                completed += 1
                log(f"Completed {name}" + (f" ({msg})" if msg else ""))
                newly = []
                for c in children[k]:
                    pending_deps[c].discard(k)
                    if not pending_deps[c] and c not in blocked:
                        newly.append(c)
                newly.sort(key=lambda c: order[c], reverse=(opts.traversal == "d"))
                ready.extend(newly)
            else:
                log(f"Failed {name}: {msg}")
                failed.append(k)
                stack = list(children[k])
                while stack:
                    c = stack.pop()
                    if c not in blocked:
                        blocked.add(c)
                        stack.extend(children[c])
                if jobs == 1:
                    stop_new = True
    except KeyboardInterrupt:
        restore_handlers()  # a second Ctrl-C while the tasks stop interrupts at once
        log("")
        log("Interrupted: stopping running tasks...")
        runner.terminate_all()
        for k, th in list(running.items()):
            th.join(10)
        log("EXITING: Cleaning up lock files...")
        return 130
    finally:
        restore_handlers()
    if failed:
        not_run = [k for k in by_key if k not in failed and k in blocked]
        log("The following tasks failed:")
        for k in failed:
            log(f"FAILED: {k[0]}/{k[1]}/{version} in {by_key[k].dir}")
        if not_run:
            log(f"Not run because an upstream task failed: "
                + ", ".join(f"{a}/{b}" for a, b in not_run))
        skipped = len(by_key) - completed - len(failed) - len(not_run)
        if skipped > 0:
            log(f"Not started ({skipped} task(s)) because a task failed with -j 1 "
                "(use -j N to keep going with independent tasks)")
        for k in failed:
            log(f"ERROR: Task {k[0]}/{k[1]}/{version} failed")
        return 1
    log("All tasks completed successfully")
    return 0
