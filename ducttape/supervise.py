"""A task's guardian: runs one task command and kills every process of it when the engine dies.

The engine starts ``python supervise.py WATCH_FD KEEP_FD -- COMMAND...`` in a new session (so
Ctrl-C at the terminal reaches only the engine, which stops tasks itself). WATCH_FD is the read
end of a pipe whose write end only the engine holds: the kernel closes it however the engine
ends (exit, crash, ``kill -9``, OOM killer, SIGHUP), so EOF on it means "the engine is gone" with
no polling of pids and no reliance on signals reaching us. On EOF the supervisor sends SIGTERM to
every descendant (so torchrun can stop its workers), waits up to GRACE seconds, then SIGKILLs
what is left. It is a child subreaper, so descendants that double-fork or ``setsid`` stay in its
tree and are found too. KEEP_FD (the task's lock file, ``flock``-ed by the engine; -1 for none)
is kept open here so the lock stays held while any of the task is alive, even after the engine
has died. Standard library only: it must start fast and run wherever the engine runs.
"""

import os
import select
import signal
import sys
import time

GRACE = 2.0
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option, arg):
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, arg, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pipe and the process group still work
        pass


def descendants(root):
    """Pids of every live process below ``root`` (from /proc; empty where there is none)."""
    children = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    out, stack = [], [root]
    while stack:
        for c in children.get(stack.pop(), ()):
            out.append(c)
            stack.append(c)
    return out


def signal_escaped(sig):
    """Signal the descendants that left our process group (``setsid``, their own group)."""
    group = os.getpgrp()
    for pid in descendants(os.getpid()):
        try:
            if os.getpgid(pid) != group:
                os.kill(pid, sig)
        except OSError:
            pass


def signal_all(sig):
    """Signal every descendant: our process group (the task's) and those that left it."""
    signal_escaped(sig)
    if os.getpgrp() != os.getpid():
        # not started in a session of its own (the engine always does that): the group is
        # our caller's, so signal only our own descendants
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        return
    try:
        os.killpg(os.getpgrp(), sig)
    except OSError:
        pass


def reap():
    """Reap every exited child (orphans re-parented to us included); return the exits seen."""
    seen = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return seen
        if pid == 0:
            return seen
        seen[pid] = status


def note(msg):
    """Say why the task stopped in its own stderr log (the engine that would print it is gone)."""
    try:
        with open("ducttape_stderr.txt", "a") as f:
            f.write(f"ducttape supervisor: {msg}\n")
    except OSError:
        pass


def kill_tree():
    # SIGTERM is ignored by us (see main), so this reaches the task, not the supervisor.
    signal_all(signal.SIGTERM)
    deadline = time.time() + GRACE
    while time.time() < deadline:
        reap()
        if not descendants(os.getpid()):
            return
        time.sleep(0.05)
    signal_all(signal.SIGKILL)
    reap()


def main(argv):
    watch_fd, keep_fd = int(argv[0]), int(argv[1])
    cmd = argv[3:]
    os.set_inheritable(watch_fd, False)
    if keep_fd >= 0:
        os.set_inheritable(keep_fd, False)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    # Signals from the engine (Ctrl-C, SIGTERM, HUP -> killpg of this group) are for the task:
    # the supervisor outlives them to keep watching, and passes them on to descendants that left
    # the group (the group itself already has them: killpg would loop back to us). A Python
    # handler, not SIG_IGN, so that the task does not inherit "ignored".
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: signal_escaped(s))
    # SIGCHLD wakes the poll at once (through the wakeup pipe), so a task's end is seen
    # without delay; the timeout is only a safety net.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda s, f: None)
    pid = os.fork()
    if pid == 0:
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            # if the supervisor itself is killed (it should not be), the task goes with it
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    # The engine reads the task's stdout/stderr until EOF: our copies must not keep them open.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    poller = select.poll()
    poller.register(watch_fd, select.POLLIN | select.POLLHUP)
    poller.register(wake_r, select.POLLIN)
    while True:
        try:
            events = poller.poll(1000)
        except InterruptedError:
            events = []
        status = reap().get(pid)
        if status is not None:
            return os.waitstatus_to_exitcode(status)
        if any(fd == wake_r for fd, _ in events):
            os.read(wake_r, 4096)
        if any(fd == watch_fd for fd, _ in events):
            try:
                data = os.read(watch_fd, 1)
            except OSError:
                data = b""
            if not data:
                note(f"the ducttape engine died; stopping the task (process group "
                     f"{os.getpgrp()})")
                kill_tree()
                return 143


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # a signal death is passed on as the shell does (128+N): the engine reads exit codes
    sys.exit(code if code >= 0 else 128 - code)
