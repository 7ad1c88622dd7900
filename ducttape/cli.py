"""Command line: ``ducttape WORKFLOW [options] [mode [taskglob [realglob...]]]`` (spec §4)."""

import os
import sys

from . import __version__, DUCTTAPE_VERSION

USAGE = """\
Usage: ducttape WORKFLOW.tape [options] [mode [TASK_GLOB [REALIZATION_GLOB...]]]

Options:
  -C, --config_file FILE   config file (.tconf); parsed like a tape and merged into the workflow
  -p, --plans NAME         run only this plan (repeatable); default: all plans
  -j, --jobs N             run up to N tasks at once (default 1)
  -O, --output DIR         output directory (overrides ducttape_output; default: the current dir)
  -y, --yes                do not prompt for confirmation
  -n, --no_color           no colours (accepted for compatibility; output is never coloured)
  -t, --traversal ORDER    d[epth-first] (default), b[readth-first] or a[rbitrary]
  -T, --viz-type TYPE      for viz: unpacked (default) or packed
      --dry-run            print the work plan and exit without running or changing anything
      --strict             a plan naming a branch that does not exist is an error (default: a
                           warning with its file:line; the branch matches nothing)
      --force              unlock: also remove locks held by live processes
      --version            print the version and exit
  -h, --help               print this help and exit

Modes:
  exec (default)           run every planned task that is not complete
  list                     print the planned realized tasks (TASK REALIZATION)
  explain                  explain which realizations the plans select and why
  env TASK REAL            print the variables of one realized task
  commands TASK REAL       print a runnable script for one realized task
  viz                      print the planned graph in GraphViz DOT
  summary [NAME...]        run the summary blocks over complete tasks and print TSV tables
  invalidate TASK REAL...  mark matching tasks (and their descendants) to be re-run
  purge TASK REAL...       move matching task directories (and their descendants') to the attic
  mark_done TASK REAL...   mark matching incomplete tasks as complete
  unlock TASK REAL...      remove lock files left by a killed ducttape process (a lock
                           held by a live process needs --force)
  versions                 list previous workflow versions in the output directory
  update [PACKAGE...]      re-query package repositories and build new versions
"""

LONG = {
    "config_file": "C", "config-file": "C", "config": "C",
    "plans": "p", "plan": "p",
    "jobs": "j",
    "output": "O",
    "yes": "y",
    "no_color": "n", "no-color": "n",
    "traversal": "t",
    "viz-type": "T", "viz_type": "T",
    "help": "h",
    "dry-run": "dry", "dry_run": "dry",
    "version": "version",
    "strict": "strict",
    "force": "force",
}
WITH_VALUE = {"C", "p", "j", "O", "t", "T"}
FLAGS = {"y", "n", "h", "dry", "version", "strict", "force"}
MODE_NAMES = ("exec", "list", "explain", "env", "commands", "viz", "summary", "invalidate",
              "purge", "mark_done", "unlock", "versions", "update")


class UsageError(Exception):
    pass


class Options:
    def __init__(self):
        self.config = None
        self.plans = []
        self.jobs = 1
        self.output = None
        self.yes = False
        self.no_color = False
        self.traversal = "d"
        self.viz_type = "unpacked"
        self.dry_run = False
        self.strict = False
        self.force = False
        self.help = False
        self.version = False
        self.quiet_tasks = False
        self.workflow = None
        self.mode = "exec"
        self.args = []


def parse_args(argv):
    o = Options()
    if not argv:
        raise UsageError("Workflow file is required")
    if argv[0] in ("-h", "--help"):
        o.help = True
        return o
    if argv[0] == "--version":
        o.version = True
        return o
    if argv[0].startswith("-"):
        raise UsageError("Workflow file is required (it must be the first argument, before any "
                         f"option; got {argv[0]!r})")
    o.workflow = argv[0]
    positional = []
    i = 1

    def setopt(key, value, spelled):
        if key == "C":
            o.config = value
        elif key == "p":
            o.plans.extend(v for v in value.split(",") if v)
        elif key == "j":
            try:
                o.jobs = int(value)
            except ValueError:
                raise UsageError(f"{spelled} needs a number, got {value!r}")
            if o.jobs < 1:
                raise UsageError(f"{spelled} must be at least 1")
        elif key == "O":
            o.output = value
        elif key == "t":
            v = value[:1].lower()
            if v not in ("a", "b", "d"):
                raise UsageError(f"{spelled} must be depth-first, breadth-first or arbitrary, "
                                 f"got {value!r}")
            o.traversal = "b" if v == "b" else "d"
        elif key == "T":
            if value not in ("unpacked", "packed", "debug"):
                raise UsageError(f"{spelled} must be unpacked or packed, got {value!r}")
            o.viz_type = value
        elif key == "y":
            o.yes = True
        elif key == "n":
            o.no_color = True
        elif key == "h":
            o.help = True
        elif key == "dry":
            o.dry_run = True
        elif key == "version":
            o.version = True
        elif key == "strict":
            o.strict = True
        elif key == "force":
            o.force = True

    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            positional.extend(argv[i:])
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            key = LONG.get(name)
            if key is None:
                raise UsageError(f"Unknown option --{name}")
            if key in WITH_VALUE:
                if not eq:
                    if i >= len(argv):
                        raise UsageError(f"Option --{name} needs a value")
                    value = argv[i]
                    i += 1
                setopt(key, value, "--" + name)
            else:
                if eq:
                    raise UsageError(f"Option --{name} does not take a value")
                setopt(key, None, "--" + name)
            continue
        if a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                c = a[j]
                if c in WITH_VALUE:
                    value = a[j + 1:]
                    if value.startswith("="):
                        value = value[1:]
                    if not value:
                        if i >= len(argv):
                            raise UsageError(f"Option -{c} needs a value")
                        value = argv[i]
                        i += 1
                    setopt(c, value, "-" + c)
                    break
                if c in FLAGS:
                    setopt(c, None, "-" + c)
                    j += 1
                    continue
                raise UsageError(f"Unknown option -{c}")
            continue
        positional.append(a)
    if positional:
        o.mode = positional[0]
        o.args = positional[1:]
        if o.mode not in MODE_NAMES:
            raise UsageError(f"Unknown mode '{o.mode}'; expected one of: {', '.join(MODE_NAMES)}")
    return o


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    try:
        o = parse_args(argv)
    except UsageError as e:
        sys.stderr.write(USAGE + "\n")
        sys.stderr.write(f"ERROR: {e}\n")
        return 1
    if o.help:
        sys.stdout.write(USAGE)
        return 0
    if o.version:
        sys.stdout.write(f"ducttape {DUCTTAPE_VERSION} (pure-Python implementation {__version__})\n")
        return 0
    return run(o)


def run(o):
    from .errors import DucttapeError
    from .execute import log
    try:
        return _run(o)
    except DucttapeError as e:
        try:
            log(e.format())
        except BrokenPipeError:
            pass
        return 1
    except KeyboardInterrupt:
        log("Interrupted")
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except OSError as e:
        log(f"ERROR: {e}")
        return 1


def _run(o):
    from .workflow import Workflow
    from .execute import log, exec_mode
    from .modes import MODES
    if o.args and o.mode in ("exec", "list", "explain", "viz", "versions"):
        log(f"WARNING: mode {o.mode} ignores its arguments: {' '.join(o.args)}")
    log(f"ducttape {DUCTTAPE_VERSION} (Python)")
    wf = Workflow(o.workflow, o.config, o.output, strict=o.strict)
    for w in wf.warnings:
        log(f"WARNING: {w}")
    nwarn = len(wf.warnings)
    try:
        planned = wf.plan(o.plans or None)
    finally:  # the plan's warnings explain a "zero tasks" error too
        for w in wf.warnings[nwarn:]:
            log(f"WARNING: {w}")
    log(wf.plan_message)
    if wf.flat:
        log("Using structure: flat")
        bad = [r for r in planned if r.key != "Baseline.baseline"]
        if bad:
            from .errors import DucttapeError
            raise DucttapeError("workflow may not contain any branchpoints if flat structure is "
                                "being used", hint="remove ducttape_structure=flat or the branch "
                                                   f"points (e.g. {bad[0].task.name}/{bad[0].key})")
    if o.mode == "exec":
        return exec_mode(wf, planned, o)
    return MODES[o.mode](wf, planned, o.args, o)
