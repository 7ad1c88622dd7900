"""Loading, merging, static checks, value resolution, realizations and plans (spec §1.8-§2.8)."""

import difflib
import os

from . import syntax as S
from .errors import DucttapeError, ErrorList

SPECIAL_SUBMITTER_VARS = ("COMMANDS", "TASK_VARIABLES", "TASK", "REALIZATION", "CONFIGURATION")
TRUE_WORDS = {"true", "1", "enable", "t", "yes"}
FALSE_WORDS = {"false", "0", "disable", "f", "no"}
ALL = None  # "(BP: *)" in a plan


# ----------------------------------------------------------------------------------------------
# resolved value expressions
# ----------------------------------------------------------------------------------------------

class ELit:
    __slots__ = ("value", "pos", "path")

    def __init__(self, value, pos, path=False):
        self.value = value
        self.pos = pos
        self.path = path  # a literal input path (checked for existence before running)


class EOut:
    __slots__ = ("task", "var", "grafts", "pos")

    def __init__(self, task, var, grafts, pos):
        self.task = task
        self.var = var
        self.grafts = grafts  # tuple of (bp, branch)
        self.pos = pos


class EBP:
    __slots__ = ("bp", "branches", "grafted", "pos")

    def __init__(self, bp, branches, grafted, pos):
        self.bp = bp
        self.branches = branches  # list of (branch, expr)
        self.grafted = grafted
        self.pos = pos


class EList:
    """A graft glob: one value per branch, joined with spaces."""
    __slots__ = ("items", "pos")

    def __init__(self, items, pos):
        self.items = items
        self.pos = pos


class BPInfo:
    def __init__(self, name, branches, pos, is_seq):
        self.name = name
        self.baseline = branches[0]
        self.branches = list(branches)
        self.pos = pos
        self.first_list = None if is_seq else (list(branches), pos)

    def add(self, branches, pos, is_seq):
        for b in branches:
            if b not in self.branches:
                self.branches.append(b)
        if is_seq:
            return None
        if self.first_list is None:
            self.first_list = (list(branches), pos)
            return None
        first, fpos = self.first_list
        if branches[0] != first[0]:
            return pos.error(
                f"Branch point '{self.name}' has baseline branch '{branches[0]}' here but "
                f"'{first[0]}' at {fpos}",
                "every definition of a branch point must list the same branches with the same "
                "first (baseline) branch")
        if set(branches) != set(first):
            return pos.error(
                f"Branch point '{self.name}' has branches {sorted(set(branches))} here but "
                f"{sorted(set(first))} at {fpos}",
                "every definition of a branch point must list the same set of branches")
        return None


class Task:
    def __init__(self, defn, body, body_pos):
        self.name = defn.name
        self.defn = defn
        self.pos = defn.pos
        self.body = body
        self.body_pos = body_pos
        self.vars = []  # (name, kind, expr, spec) for params then inputs
        self.outputs = []  # (name, value, spec)
        self.packages = []  # names
        self.parents = []  # task names (packed graph), ordered, unique
        self.grafts = set()  # (bp, branch) used by this task's references
        self.relaxed = set()
        self.seen_bps = set()
        self.index = 0  # document order
        self.dot_params = {}  # name -> spec (without the dot)

    def __repr__(self):
        return f"Task({self.name})"


class Realized:
    """One realized task: a task plus the branch chosen for every branch point it sees."""
    __slots__ = ("task", "real", "key", "full", "values", "deps", "literals", "wf", "_dir",
                 "sortkey")

    def __init__(self, wf, task, real, values, deps, literals):
        self.wf = wf
        self.task = task
        self.real = real
        self.key = wf.canonical(real)
        self.full = wf.full_name(real)
        self.values = values
        self.deps = deps
        self.literals = literals
        self._dir = None
        self.sortkey = None

    @property
    def name(self):
        return self.task.name

    @property
    def dir(self):
        if self._dir is None:
            if self.wf.flat:
                self._dir = os.path.join(self.wf.out, self.task.name)
            else:
                self._dir = os.path.join(self.wf.out, self.task.name, self.dirname)
        return self._dir

    @property
    def dirname(self):
        k = self.key
        if len(k) > 250:
            import hashlib
            return hashlib.md5(k.encode("utf-8")).hexdigest().upper()
        return k

    @property
    def lock_path(self):
        if self.wf.flat:
            return os.path.join(self.wf.out, self.task.name + ".LOCK")
        return os.path.join(self.wf.out, self.task.name, self.dirname + ".LOCK")

    def out_path(self, var):
        for name, value, _ in self.task.outputs:
            if name == var:
                if os.path.isabs(value):
                    return value
                return os.path.join(self.dir, value)
        raise KeyError(var)

    def env(self):
        """Task variables in header order: inputs, outputs, params (dot params without the dot)."""
        out = []
        t = self.task
        for name, kind, _, _ in t.vars:
            if kind == "in":
                out.append((name, self.values[name]))
        for name, _, _ in t.outputs:
            out.append((name, self.out_path(name)))
        for name, kind, _, _ in t.vars:
            if kind == "param":
                out.append((name, self.values[name]))
        for p in t.packages:
            out.append((p, self.wf.package_dir(p)))
        return out

    def __repr__(self):
        return f"{self.task.name}/{self.key}"


# ----------------------------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------------------------

def _builtin_blocks():
    from .builtins import BUILTINS_TAPE
    return S.parse_text(BUILTINS_TAPE, "<builtins>")


class Loaded:
    def __init__(self):
        self.blocks = []  # (block, origin) where origin in main/config/user/builtin
        self.files = []
        self.imports_used = []  # (pos, origin)


def load_tree(path, loaded, origin, stack, seen):
    apath = os.path.abspath(path)
    if apath in stack:
        chain = " -> ".join(stack[stack.index(apath):] + [apath])
        raise DucttapeError(f"Import cycle: {chain}")
    if apath in seen:
        return
    seen.add(apath)
    loaded.files.append(apath)
    blocks = S.parse_file(path)
    imports = []
    for b in blocks:
        if isinstance(b, S.Import):
            imports.append(b)
        else:
            loaded.blocks.append((b, origin))
    for imp in imports:
        loaded.imports_used.append((imp.pos, origin))
        target = imp.path.value
        target = os.path.expanduser(target)
        if not os.path.isabs(target):
            target = os.path.join(os.path.dirname(apath), target)
        if not os.path.isfile(target):
            raise imp.pos.error(f"Imported file not found: {target}",
                                "a path relative to the directory of the importing file")
        load_tree(target, loaded, origin, stack + [apath], seen)


class Workflow:
    def __init__(self, path, config=None, out=None, user_config=True, strict=False):
        self.path = os.path.abspath(path)
        self.strict = strict  # unknown branch names in plans are errors instead of warnings
        self.config_path = os.path.abspath(config) if config else None
        self.config_name = ""
        if config:
            base = os.path.basename(config)
            for ext in (".tconf", ".conf"):
                if base.endswith(ext):
                    base = base[: -len(ext)]
                    break
            self.config_name = base
        if not os.path.isfile(path):
            raise DucttapeError(f"Workflow file not found: {path}")
        if config and not os.path.isfile(config):
            raise DucttapeError(f"Config file not found: {config}", hint="-C path/to/file.tconf")
        loaded = Loaded()
        seen = set()
        load_tree(path, loaded, "main", [], seen)
        if config:
            anon = [b for b, _ in loaded.blocks
                    if isinstance(b, S.ConfigBlock) and b.kind == "config" and b.name is None]
            if anon:
                # spec §2.1: the workflow's anonymous config block and -C would both claim to
                # be "the" configuration; 0.3 refuses, and so do we
                raise anon[0].pos.error(
                    f"This workflow has an anonymous 'config {{' block, so it cannot also be run "
                    f"with -C {config}",
                    "rename the block to 'global {', or drop -C")
            load_tree(config, loaded, "config", [], seen)
        if user_config and not os.environ.get("DUCTTAPE_NO_USER_CONFIG"):
            home_conf = os.path.expanduser("~/.ducttape")
            if os.path.isfile(home_conf):
                load_tree(home_conf, loaded, "user", [], seen)
        self.files = loaded.files
        self.loaded = loaded
        self.warnings = []
        self._collect(loaded)
        self._directives(out)
        self._check_imports()
        self._build()

    # ---- merge ----
    def _collect(self, loaded):
        errors = []
        self.tasks = {}
        self.task_defs = []
        self.funcs = {}
        self.globals = {}
        self.plans = []
        self.submitters = {}
        self.versioners = {}
        self.packages = {}
        self.summaries = []
        builtin_subs = {}
        builtin_vers = {}
        for b in _builtin_blocks():
            if isinstance(b, S.GroupBlock):
                (builtin_subs if b.kind == "submitter" else builtin_vers)[b.name] = b
        for b, origin in loaded.blocks:
            if isinstance(b, S.TaskDef):
                if b.kind == "task":
                    if b.name in self.tasks:
                        errors.append(b.pos.error(
                            f"Task '{b.name}' is defined twice (first at {self.tasks[b.name].pos})"))
                        continue
                    self.tasks[b.name] = b
                elif b.kind == "func":
                    if b.name in self.funcs:
                        errors.append(b.pos.error(f"Function '{b.name}' is defined twice"))
                    self.funcs[b.name] = b
                elif b.kind == "package":
                    if b.name in self.packages:
                        errors.append(b.pos.error(f"Package '{b.name}' is defined twice"))
                    self.packages[b.name] = b
            elif isinstance(b, S.ConfigBlock):
                if b.kind == "config" and b.name is not None:
                    self.warnings.append(
                        f"{b.pos}: named config block '{b.name}' is ignored (deprecated; use a "
                        f"global block in a file passed with -C)")
                    continue
                for spec in b.specs:
                    if spec.name in self.globals:
                        first = self.globals[spec.name]
                        errors.append(spec.pos.error(
                            f"Global variable {spec.name} originally defined at "
                            f"{first.pos} redefined at {spec.pos}",
                            "define each global variable once across the workflow, its imports "
                            "and the -C config"))
                        continue
                    self.globals[spec.name] = spec
            elif isinstance(b, S.PlanBlock):
                self.plans.append(b)
            elif isinstance(b, S.GroupBlock):
                if b.kind == "submitter":
                    if b.name in self.submitters:
                        errors.append(b.pos.error(f"Submitter '{b.name}' is defined twice"))
                    self.submitters[b.name] = b
                elif b.kind == "versioner":
                    self.versioners[b.name] = b
                else:
                    self.summaries.append(b)
        for name, b in builtin_subs.items():
            self.submitters.setdefault(name, b)
        for name, b in builtin_vers.items():
            self.versioners.setdefault(name, b)
        # function calls become tasks
        for name, t in self.tasks.items():
            if t.calls:
                fname, fpos = t.calls
                if fname not in self.funcs:
                    errors.append(fpos.error(f"Task '{name}' calls unknown function '{fname}'",
                                             "a func block with that name"))
        if errors:
            raise ErrorList(errors)

    def directive(self, name):
        spec = self.globals.get(name)
        if spec is None:
            return None
        if not isinstance(spec.value, S.Literal):
            raise spec.pos.error(f"Directive {name} must be a literal value")
        return spec.value.value

    def bool_directive(self, name):
        v = self.directive(name)
        if v is None:
            return False
        lv = v.lower()
        if lv in TRUE_WORDS:
            return True
        if lv in FALSE_WORDS:
            return False
        spec = self.globals[name]
        raise spec.pos.error(f"Directive {name} must be a boolean, got {v!r}", "true or false")

    def _directives(self, out):
        struct = self.directive("ducttape_structure") or "hyper"
        if struct not in ("flat", "hyper"):
            raise self.globals["ducttape_structure"].pos.error(
                f"ducttape_structure must be 'flat' or 'hyper', got {struct!r}")
        self.flat = struct == "flat"
        given = "-O" if out is not None else "ducttape_output"
        if out is None:
            out = self.directive("ducttape_output")
            if out is not None:
                out = os.path.expanduser(out)
        if out is None or out == "":
            out = "."
        self.out = os.path.abspath(out)
        self._check_out_dir(out, given)
        self.multiproc = self.bool_directive("ducttape_experimental_multiproc")
        self.exp_imports = self.bool_directive("ducttape_experimental_imports")
        self.exp_submitters = self.bool_directive("ducttape_experimental_submitters")
        self.exp_packages = self.bool_directive("ducttape_experimental_packages")
        self.auto_update = self.bool_directive("ducttape_auto_update_packages")
        if self.bool_directive("ducttape_versioned_tasks"):
            self.warnings.append("ducttape_versioned_tasks=true is not supported (it is broken in "
                                 "0.3); ignoring it")
        delim = self.directive("ducttape_branchpoint_delimiter")
        self.delim = delim[0].lower() if delim else "+"
        self.lint = {}
        for d in ("ducttape_undeclared_vars", "ducttape_unused_vars"):
            v = (self.directive(d) or "ignore").lower()
            if v not in ("ignore", "warn", "error"):
                raise self.globals[d].pos.error(f"{d} must be ignore, warn or error, got {v!r}")
            self.lint[d] = v

    def _check_out_dir(self, spelled, given):
        """The output directory (or a folder above it) being a regular file is an error now,
        before a plan says "N to run" and the first task fails with ENOTDIR."""
        p = self.out
        while not os.path.exists(p) and os.path.dirname(p) != p:
            p = os.path.dirname(p)
        if os.path.isdir(p):
            return
        what = "is" if p == self.out else f"is under {p}, which is"
        raise DucttapeError(f"Output directory {spelled} (from {given}) {what} a regular file, "
                            "not a directory",
                            hint=f"point {given} at a directory (it is created if missing), or "
                                 "move the file away")

    def _check_imports(self):
        if self.loaded.imports_used and not self.exp_imports:
            pos = self.loaded.imports_used[0][0]
            self.warnings.append(
                f"{pos}: this workflow uses the experimental 'import' feature; set "
                f"ducttape_experimental_imports=true in a global block (ducttape 0.3 requires it)")

    # ---- names ----
    def canonical(self, real):
        items = [(bp, b) for bp, b in real.items() if self.bps[bp].baseline != b]
        if not items:
            return "Baseline.baseline"
        items.sort()
        return self.delim.join(f"{bp}.{b}" for bp, b in items)

    def full_name(self, real):
        if not real:
            return "Baseline.baseline"
        return self.delim.join(f"{bp}.{b}" for bp, b in sorted(real.items()))

    def package_dir(self, name):
        versions = self.__dict__.setdefault("package_versions", {})
        v = versions.get(name)
        if v is None:
            try:
                with open(os.path.join(self.out, ".packages", name, "HEAD")) as f:
                    v = f.read().strip()
            except OSError:
                v = ""
            v = v or "HEAD"
        return os.path.join(self.out, ".packages", name, v)

    # ---- build ----
    def _build(self):
        errors = []
        self.bps = {}
        # 1. branch points in document order
        def visit(rv):
            if isinstance(rv, S.BranchPoint):
                names = [b for b, _, _ in rv.branches]
                dup = {b for b in names if names.count(b) > 1}
                if dup:
                    errors.append(rv.pos.error(
                        f"Branch point '{rv.name}' lists branch '{sorted(dup)[0]}' twice"))
                self._add_bp(rv.name, names, rv.pos, False, errors)
                for _, v, _ in rv.branches:
                    visit(v)
            elif isinstance(rv, S.Sequence):
                self._add_bp(rv.name, rv.values(), rv.pos, True, errors)

        for b, _ in self.loaded.blocks:
            if isinstance(b, S.TaskDef):
                for spec in b.ordered:
                    if spec.value is not None:
                        visit(spec.value)
            elif isinstance(b, S.ConfigBlock):
                for spec in b.specs:
                    visit(spec.value)
        self.bps.setdefault("Baseline", BPInfo("Baseline", ["baseline"], None, True))
        if errors:
            raise ErrorList(errors)

        # 2. tasks
        self.task_list = []
        for i, (name, d) in enumerate(self.tasks.items()):
            try:
                t = self._make_task(d, errors)
            except DucttapeError as e:
                errors.append(e)
                continue
            t.index = i
            self.task_list.append(t)
        if errors:
            raise ErrorList(errors)
        self.task_by_name = {t.name: t for t in self.task_list}
        for t in self.task_list:
            for name, kind, expr, spec in t.vars:
                try:
                    self._collect_edges(t, expr)
                except DucttapeError as e:
                    errors.append(e)
        if errors:
            raise ErrorList(errors)
        self._toposort()
        self._seen_and_grafts(errors)
        self._check_submitters(errors)
        if self.packages:
            from .packages import check_packages
            errors.extend(check_packages(self))
        self._check_lint()
        if errors:
            raise ErrorList(errors)
        self._check_plans()

    def _add_bp(self, name, branches, pos, is_seq, errors):
        if name == "Baseline":
            errors.append(pos.error("'Baseline' is reserved and cannot be used as a branch point name"))
            return
        info = self.bps.get(name)
        if info is None:
            self.bps[name] = BPInfo(name, branches, pos, is_seq)
        else:
            err = info.add(branches, pos, is_seq)
            if err:
                errors.append(err)

    def _make_task(self, d, errors):
        body, body_pos = d.body, d.body_pos
        if d.calls:
            f = self.funcs[d.calls[0]]
            body, body_pos = f.body, f.body_pos
        t = Task(d, body, body_pos)
        seen = {}
        for spec in d.ordered:
            if spec.name in seen:
                errors.append(spec.pos.error(
                    f"Variable '{spec.name}' is declared twice in task '{d.name}' (first at "
                    f"{seen[spec.name].pos})", "unique names across inputs, outputs, params "
                                                "and packages"))
                continue
            seen[spec.name] = spec
        if d.packages and not self.exp_packages:
            errors.append(d.packages[0].pos.error(
                "Task uses the experimental packages feature",
                "set ducttape_experimental_packages=true in a global block"))
        for spec in d.packages:
            if spec.name not in self.packages:
                errors.append(spec.pos.error(f"Unknown package '{spec.name}' in task '{d.name}'"))
            t.packages.append(spec.name)
        for spec in d.outputs:
            if spec.value is None:
                t.outputs.append((spec.name, spec.name, spec))
                continue
            v = spec.value
            if isinstance(v, (S.BranchPoint, S.Sequence)):
                errors.append(spec.pos.error(f"Outputs may not define branch points ('{spec.name}' "
                                             f"of task '{d.name}')", "a literal file name"))
                continue
            if not isinstance(v, S.Literal):
                errors.append(spec.pos.error(
                    f"Output '{spec.name}' of task '{d.name}' must be a literal file name",
                    f"{spec.name}=file.txt (or just {spec.name})"))
                continue
            if v.value == "":
                errors.append(spec.pos.error(f"Output '{spec.name}' of task '{d.name}' is empty",
                                             "a file name"))
                continue
            value = os.path.expanduser(v.value)
            if _outside_task_dir(value):
                # a rerun would overwrite it in place and the attic would keep nothing of it
                errors.append(spec.pos.error(
                    f"Output '{spec.name}' of task '{d.name}' resolves outside its task "
                    f"directory: {v.value}",
                    f"a path inside the task directory, e.g. {spec.name}="
                    f"{os.path.basename(os.path.normpath(value)) or spec.name}; to use a file "
                    "elsewhere, make it an input of the task (or copy it in the task body)"))
                continue
            t.outputs.append((spec.name, value, spec))
        for spec in d.params:
            try:
                expr = self.resolve(spec.value, "param", spec.name, d, (), [], spec)
            except DucttapeError as e:
                errors.append(e)
                continue
            t.vars.append((spec.name, "param", expr, spec))
            if spec.dot:
                t.dot_params[spec.name] = spec
        for spec in d.inputs:
            try:
                expr = self.resolve(spec.value, "in", spec.name, d, (), [], spec)
            except DucttapeError as e:
                errors.append(e)
                continue
            t.vars.append((spec.name, "in", expr, spec))
        if "submitter" in t.dot_params and not self.exp_submitters:
            errors.append(t.dot_params["submitter"].pos.error(
                "Task uses the experimental submitters feature (.submitter=...)",
                "set ducttape_experimental_submitters=true in a global block"))
        return t

    def resolve(self, rv, mode, lhs, owner, grafts, stack, spec):
        """Resolve a header value to an expression (ELit/EOut/EBP/EList)."""
        where = f"{'input' if mode == 'in' else 'parameter'} {lhs}" + (
            f" at task {owner.name}" if owner is not None else "")
        if isinstance(rv, S.Literal):
            if mode == "in":
                if rv.value == "":
                    raise rv.pos.error(f"Empty literal for {where}", "a file path")
                return ELit(self.literal_path(rv.value, rv.pos), rv.pos, path=True)
            return ELit(rv.value, rv.pos)
        if isinstance(rv, S.Shorthand):
            return self.resolve(S.VarRef(lhs, rv.task, rv.grafts, rv.pos), mode, lhs, owner,
                                grafts, stack, spec)
        if isinstance(rv, S.VarRef):
            if rv.grafts:
                glob = [(bp, b) for bp, b in rv.grafts if b == "*"]
                for bp, b in rv.grafts:
                    if bp not in self.bps:
                        raise rv.pos.error(f"No such branch point: {bp} (in branch graft)")
                    if b != "*" and b not in self.bps[bp].branches:
                        raise rv.pos.error(f"Branch point {bp} has no branch '{b}' (in branch graft)",
                                           f"one of {' '.join(self.bps[bp].branches)}")
                if glob:
                    import itertools
                    fixed = [(bp, b) for bp, b in rv.grafts if b != "*"]
                    combos = itertools.product(*[[(bp, b) for b in self.bps[bp].branches]
                                                 for bp, _ in glob])
                    items = []
                    for combo in combos:
                        ref = S.VarRef(rv.name, rv.task, fixed + list(combo), rv.pos)
                        items.append(self.resolve(ref, mode, lhs, owner, grafts, stack, spec))
                    return EList(items, rv.pos)
                grafts = grafts + tuple(rv.grafts)
            if rv.task is None:
                g = self.globals.get(rv.name)
                if g is None:
                    raise rv.pos.error(f"Config variable {rv.name} required by {where} not found "
                                       f"in config file",
                                       f"define it in a global block: {rv.name}=...")
                key = ("global", rv.name)
                if key in stack:
                    raise rv.pos.error(f"Global variable {rv.name} refers to itself")
                return self.resolve(g.value, mode, rv.name, None, grafts, stack + [key], g)
            src = self.tasks.get(rv.task)
            if src is None:
                raise rv.pos.error(f"Unknown task '{rv.task}' referenced by {where}",
                                   "the name of a task defined in the workflow")
            sdef = {s.name: s for s in src.ordered}
            target = sdef.get(rv.name)
            if mode == "in":
                if target is None or target.kind != "out":
                    kind = "" if target is None else f" (it is declared at the source task as " \
                        f"{'a parameter' if target.kind == 'param' else 'an input'}, but has " \
                        f"the wrong type)"
                    raise rv.pos.error(f"Task '{rv.task}' has no output '{rv.name}' required by "
                                       f"{where}{kind}",
                                       "inputs refer to outputs ($out@Task); parameters refer to "
                                       "parameters")
                return EOut(rv.task, rv.name, grafts, rv.pos)
            if target is None or target.kind != "param":
                kind = "" if target is None else " (it is declared at the source task, but has " \
                    "the wrong type: parameters may only refer to parameters)"
                raise rv.pos.error(f"Task '{rv.task}' has no parameter '{rv.name}' required by "
                                   f"{where}{kind}")
            key = ("param", rv.task, rv.name)
            if key in stack:
                raise rv.pos.error(f"Parameter {rv.name}@{rv.task} refers to itself")
            return self.resolve(target.value, "param", rv.name, src, grafts, stack + [key], target)
        if isinstance(rv, S.Sequence):
            vals = rv.values()
            gb = dict(grafts)
            if rv.name in gb:
                b = gb[rv.name]
                if b not in vals:
                    raise rv.pos.error(f"Branch graft [{rv.name}:{b}]: no such branch here")
                return EBP(rv.name, [(b, ELit(b, rv.pos))], True, rv.pos)
            return EBP(rv.name, [(v, ELit(v, rv.pos)) for v in vals], False, rv.pos)
        if isinstance(rv, S.BranchPoint):
            gb = dict(grafts)
            if rv.name in gb:
                b = gb[rv.name]
                for bn, v, _ in rv.branches:
                    if bn == b:
                        return EBP(rv.name, [(bn, self.resolve(v, mode, lhs, owner, grafts, stack,
                                                               spec))], True, rv.pos)
                raise rv.pos.error(f"Branch graft [{rv.name}:{b}]: no such branch here")
            return EBP(rv.name, [(bn, self.resolve(v, mode, lhs, owner, grafts, stack, spec))
                                 for bn, v, _ in rv.branches], False, rv.pos)
        raise DucttapeError(f"Internal error: cannot resolve {rv!r}")

    def literal_path(self, value, pos):
        if value.startswith("~"):
            return os.path.expanduser(value)
        if os.path.isabs(value):
            return value
        base = os.path.dirname(os.path.abspath(pos.file)) if pos and pos.file else os.getcwd()
        if value.startswith("./"):
            value = value[2:]
        return os.path.join(base, value)

    def _collect_edges(self, t, expr):
        if isinstance(expr, EOut):
            if expr.task not in self.task_by_name:
                raise expr.pos.error(f"Unknown task '{expr.task}'")
            if expr.task not in t.parents:
                t.parents.append(expr.task)
            t.grafts.update(expr.grafts)
        elif isinstance(expr, EBP):
            for _, e in expr.branches:
                self._collect_edges(t, e)
        elif isinstance(expr, EList):
            for e in expr.items:
                self._collect_edges(t, e)

    def _toposort(self):
        import heapq
        indeg = {t.name: len(t.parents) for t in self.task_list}
        children = {t.name: [] for t in self.task_list}
        for t in self.task_list:
            for p in t.parents:
                children[p].append(t.name)
        heap = [(t.index, t.name) for t in self.task_list if indeg[t.name] == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            _, name = heapq.heappop(heap)
            order.append(self.task_by_name[name])
            for c in children[name]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    heapq.heappush(heap, (self.task_by_name[c].index, c))
        if len(order) != len(self.task_list):
            stuck = [t for t in self.task_list if indeg[t.name] > 0]
            raise stuck[0].pos.error(
                "Cycle in task dependencies involving: " + ", ".join(t.name for t in stuck))
        self.order = order
        self.children = children
        for i, t in enumerate(order):
            t.topo = i

    def _seen_and_grafts(self, errors):
        def bps_of(expr, out, grafted_out):
            if isinstance(expr, EBP):
                if not expr.grafted:
                    out.add(expr.bp)
                for _, e in expr.branches:
                    bps_of(e, out, grafted_out)
            elif isinstance(expr, EList):
                for e in expr.items:
                    bps_of(e, out, grafted_out)
            elif isinstance(expr, EOut):
                parent = self.task_by_name[expr.task]
                gbps = {bp for bp, _ in expr.grafts}
                for bp in gbps:
                    if bp not in parent.seen_bps:
                        errors.append(expr.pos.error(
                            f"Branch graft on {bp} but ${expr.var}@{expr.task} does not depend on "
                            f"branch point {bp}", f"a branch point that task {expr.task} has "
                            f"({', '.join(sorted(parent.seen_bps)) or 'none'})"))
                out.update(parent.seen_bps - gbps)
        for t in self.order:
            s = set()
            for _, _, expr, _ in t.vars:
                bps_of(expr, s, None)
            t.seen_bps = s
        # graft relaxations: a graft used by a task relaxes at it and at all its ancestors
        for t in reversed(self.order):
            rel = set(t.grafts)
            for c in self.children[t.name]:
                rel |= self.task_by_name[c].relaxed
            t.relaxed = rel

    def _check_submitters(self, errors):
        for t in self.task_list:
            spec = t.dot_params.get("submitter")
            if spec is None:
                continue
            names = set()
            for _, kind, expr, s in t.vars:
                if s is spec:
                    _literals(expr, names)
            for name in names:
                sub = self.submitters.get(name)
                if sub is None:
                    errors.append(spec.pos.error(f"Unknown submitter '{name}' used by task "
                                                 f"'{t.name}'",
                                                 "shell, slurm, sge, torque, pbs or a submitter "
                                                 "block defined in the workflow"))
                    continue
                if not any(a.name == "run" for a in sub.children):
                    errors.append(sub.pos.error(f"Submitter '{name}' has no 'run' action"))
                if name == "slurm" and sub.pos.file == "<builtins>":
                    continue
                for p in sub.header.params:
                    if p.name in SPECIAL_SUBMITTER_VARS:
                        continue
                    if p.name not in t.dot_params:
                        errors.append(t.pos.error(
                            f"Dot parameter '{p.name}' required by submitter '{name}' not defined "
                            f"by task '{t.name}'", f":: .{p.name}=value"))

    def _check_lint(self):
        undeclared = self.lint["ducttape_undeclared_vars"]
        unused = self.lint["ducttape_unused_vars"]
        if undeclared == "ignore" and unused == "ignore":
            return
        import re
        errors = []
        for t in self.task_list:
            used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", t.body or ""))
            declared = {n for n, _, _, _ in t.vars} | {n for n, _, _ in t.outputs} | set(t.packages)
            declared |= set(SPECIAL_SUBMITTER_VARS)
            for name in sorted(used - declared):
                if name in os.environ or name in ("PWD", "HOME", "PATH", "USER", "RANDOM",
                                                  "LINENO", "BASH_SOURCE"):
                    continue
                msg = f"Task '{t.name}' uses ${name}, which is not declared in its header"
                if undeclared == "error":
                    errors.append(t.pos.error(msg))
                elif undeclared == "warn":
                    self.warnings.append(f"{t.pos}: {msg}")
            dots = set(t.dot_params)
            for name in sorted(declared - used - dots - set(SPECIAL_SUBMITTER_VARS)):
                msg = f"Task '{t.name}' declares '{name}' but its body never uses it"
                if unused == "error":
                    errors.append(t.pos.error(msg))
                elif unused == "warn":
                    self.warnings.append(f"{t.pos}: {msg}")
        if errors:
            raise ErrorList(errors)

    def _check_plans(self):
        errors = []
        for plan in self.plans:
            for clause in plan.clauses:
                for g, gpos in clause.goals:
                    if g not in self.task_by_name:
                        errors.append(gpos.error(f"Plan {plan.name or '(anonymous)'} reaches unknown "
                                                 f"task '{g}'"))
                for bp, items, pos in clause.cross or ():
                    if bp not in self.bps:
                        errors.append(pos.error(f"No such branch point: {bp}",
                                                "a branch point defined in the workflow or its "
                                                "configs"))
        if errors:
            raise ErrorList(errors)

    # ------------------------------------------------------------------------------------------
    # realizations
    # ------------------------------------------------------------------------------------------

    def plan(self, plan_names=None, explain=None):
        """Return the planned realized tasks (list, in execution-friendly order)."""
        self.selected_plans = []
        if not self.plans:
            self.plan_message = ("No plans specified in workflow -- Using default one-off "
                                 "realization plan: Each realization will have no more than 1 "
                                 "non-baseline branch")
            real = self._enumerate(None, self.order, explain)
            planned = {}
            for t in self.order:
                for r in real[t.name]:
                    planned.setdefault((t.name, r.key), r)
            return self._sorted(planned)
        if plan_names:
            selected = [p for p in self.plans if p.name in plan_names]
            if not selected:
                cands = ", ".join(p.name for p in self.plans if p.name) or "(only anonymous plans)"
                raise DucttapeError(
                    f"One of the specified plans was not found: {', '.join(plan_names)}",
                    hint=f"one of: {cands}")
            missing = [n for n in plan_names if n not in {p.name for p in selected}]
            for n in missing:
                self.warnings.append(f"plan '{n}' not found; ignoring it")
        else:
            selected = self.plans
        self.plan_message = "Using plans: " + ", ".join(p.name or "(anonymous)" for p in selected)
        self.selected_plans = [p.name or "(anonymous)" for p in selected]
        self._check_plan_branches(selected)
        planned = {}
        for plan in selected:
            for clause in plan.clauses:
                got = self._plan_clause(clause, explain, plan)
                if not got:
                    raise clause.pos.error(
                        f"Plan includes zero tasks (plan {plan.name or '(anonymous)'})",
                        "check the branch names in this reach clause")
                for r in got:
                    planned.setdefault((r.task.name, r.key), r)
        return self._sorted(planned)

    def realized_on_disk(self):
        """The realizations of every task over the branches named on disk (task directory names
        and full-name symlinks), whatever the plans say, with their ``deps``: what comes from a
        task can be followed into other plans (the caller keeps those whose directory exists).
        Limiting branches to those on disk keeps the enumeration as small as what has run."""
        seen = set()
        for t in self.order:
            d = os.path.join(self.out, t.name)
            if self.flat or not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                for part in name.split(self.delim):
                    bp, dot, b = part.partition(".")
                    if dot and bp in self.bps:
                        seen.add((bp, b))
        real = {}
        for t in self.order:
            def ok(bp, b, _t=t):
                return b == self.bps[bp].baseline or (bp, b) in seen or (bp, b) in _t.relaxed
            real[t.name] = self._realize_task(t, real, ok, False)
        return [r for t in self.order for r in real[t.name]]

    def _check_plan_branches(self, plans):
        """A branch a plan names that its branch point does not have matches nothing (0.3 and
        its issue #144 say nothing, and an ablation is silently lost): warn, naming the file,
        line and the branches that exist; an error under --strict. Not an error by default
        because published tapes (the SpireLM authors' wmt.tape) name branches that are gone."""
        problems = []
        for plan in plans:
            for clause in plan.clauses:
                for bp, items, pos in clause.cross or ():
                    info = self.bps.get(bp)
                    if info is None or items is None:
                        continue
                    unknown = [b for b in items if b not in info.branches and b != "baseline"]
                    if not unknown:
                        continue
                    known = info.branches
                    shown = ", ".join(known[:20]) + (f", ... ({len(known)} in all)"
                                                     if len(known) > 20 else "")
                    names = ", ".join(
                        f"'{b}'" + "".join(f" (did you mean '{c}'?)" for c in
                                           difflib.get_close_matches(b, known, n=1))
                        for b in unknown)
                    msg = (f"plan {plan.name or '(anonymous)'} names branch"
                           f"{'es' if len(unknown) > 1 else ''} {names} of branch point {bp}, "
                           f"which {'do' if len(unknown) > 1 else 'does'} not exist and "
                           f"match{'' if len(unknown) > 1 else 'es'} nothing; {bp} has: {shown}")
                    problems.append((pos, msg))
        if not problems:
            return
        if self.strict:
            raise ErrorList([pos.error(msg[0].upper() + msg[1:],
                                       "a branch the branch point defines (or drop --strict)")
                             for pos, msg in problems])
        for pos, msg in problems:
            self.warnings.append(f"{pos}: {msg}")

    def _sorted(self, planned):
        rs = list(planned.values())
        for r in rs:
            r.sortkey = (r.task.topo, self._real_sort(r.real))
        rs.sort(key=lambda r: r.sortkey)
        return rs

    def _real_sort(self, real):
        out = []
        for bp in sorted(real):
            info = self.bps[bp]
            b = real[bp]
            if b == info.baseline:
                continue
            try:
                idx = info.branches.index(b)
            except ValueError:
                idx = len(info.branches)
            out.append((bp, idx))
        return tuple(out)

    def _plan_clause(self, clause, explain, plan):
        cross = {}
        if clause.cross:
            for bp, items, _ in clause.cross:
                cross[bp] = ALL if items is None else set(items)  # last one wins
        goals = []
        for g, _ in clause.goals:
            if g not in goals:
                goals.append(g)
        # tasks needed: the goals and their ancestors
        need = set()
        stack = list(goals)
        while stack:
            n = stack.pop()
            if n in need:
                continue
            need.add(n)
            stack.extend(self.task_by_name[n].parents)
        tasks = [t for t in self.order if t.name in need]
        real = self._enumerate(cross, tasks, explain)
        selected = {}
        stack = []
        for g in goals:
            for r in real[g]:
                if all(self._allowed(cross, bp, b) for bp, b in r.real.items()):
                    stack.append(r)
                elif explain is not None:
                    explain.append(f"PLAN {plan.name or '(anonymous)'}: {g}: goal realization "
                                   f"{r.key} only allowed through a branch graft; not a goal")
        while stack:
            r = stack.pop()
            k = (r.task.name, r.key)
            if k in selected:
                continue
            selected[k] = r
            stack.extend(r.deps)
        return list(selected.values())

    def _allowed(self, cross, bp, b):
        sel = cross.get(bp, 0)
        info = self.bps[bp]
        if sel == 0:
            return b == info.baseline
        if sel is ALL:
            return True
        return b in sel or (b == info.baseline and "baseline" in sel)

    def _enumerate(self, cross, tasks, explain):
        """Realizations of each task under one clause filter (None = the one-off plan)."""
        real = {}
        for t in tasks:
            if cross is None:
                def ok(bp, b, _t=t):
                    return True
            else:
                cache = {}

                def ok(bp, b, _t=t, _cache=cache):
                    k = (bp, b)
                    v = _cache.get(k)
                    if v is None:
                        v = _cache[k] = self._allowed(cross, bp, b) or k in _t.relaxed
                    return v
            rs = self._realize_task(t, real, ok, cross is None)
            real[t.name] = rs
            if explain is not None:
                explain.append((t, rs))
        return real

    def _realize_task(self, t, real, ok, oneoff):
        bps = self.bps
        relaxed = t.relaxed
        alt_cache = {}

        def alts(expr):
            if isinstance(expr, ELit):
                return [({}, expr.value, (), ((expr.value, expr.pos),) if expr.path else ())]
            if isinstance(expr, EOut):
                key = (expr.task, expr.var, expr.grafts)
                got = alt_cache.get(key)
                if got is not None:
                    return got
                out = []
                gb = {bp for bp, _ in expr.grafts}
                for r in real[expr.task]:
                    rr = r.real
                    if all(rr.get(bp) == b for bp, b in expr.grafts):
                        assign = {k: v for k, v in rr.items() if k not in gb} if gb else rr
                        out.append((assign, r.out_path(expr.var), (r,), ()))
                alt_cache[key] = out
                return out
            if isinstance(expr, EBP):
                out = []
                bp = expr.bp
                for b, sub in expr.branches:
                    if not expr.grafted and not ok(bp, b):
                        continue
                    for assign, value, deps, lits in alts(sub):
                        if not expr.grafted:
                            cur = assign.get(bp)
                            if cur is not None and cur != b:
                                continue
                            assign = dict(assign)
                            assign[bp] = b
                        out.append((assign, value, deps, lits))
                return out
            if isinstance(expr, EList):
                combos = [({}, [], (), ())]
                for item in expr.items:
                    nxt = []
                    for a1, v1, d1, l1 in combos:
                        for a2, v2, d2, l2 in alts(item):
                            if any(a1.get(k, v) != v for k, v in a2.items()):
                                continue
                            m = dict(a1)
                            m.update(a2)
                            nxt.append((m, v1 + [v2], d1 + d2, l1 + l2))
                    combos = nxt
                return [(a, " ".join(v), d, l) for a, v, d, l in combos]
            raise TypeError(expr)

        var_alts = []
        names = []
        for name, kind, expr, spec in t.vars:
            a = alts(expr)
            if not ok_all(a, ok):
                a = [x for x in a if all(ok(bp, b) for bp, b in x[0].items())]
            var_alts.append(_AltIndex(a))
            names.append(name)

        results = {}
        nvars = len(var_alts)

        def nonbase_count(M):
            c = 0
            for bp, b in M.items():
                if b != bps[bp].baseline and (bp, b) not in relaxed:
                    c += 1
            return c

        def rec(k, M, values, deps, lits):
            if k == nvars:
                if oneoff and nonbase_count(M) > 1:
                    return
                r = Realized(self, t, M, dict(zip(names, values)), deps, lits)
                if r.key not in results:
                    results[r.key] = r
                return
            for assign, value, d, l in var_alts[k].candidates(M):
                if assign:
                    M2 = dict(M)
                    M2.update(assign)
                    if oneoff and len(M2) > len(M) and nonbase_count(M2) > 1:
                        continue
                else:
                    M2 = M
                values.append(value)
                if l:
                    l = tuple((names[k], v, p) for v, p in l)
                rec(k + 1, M2, values, deps + d, lits + l)
                values.pop()

        rec(0, {}, [], (), ())
        return list(results.values())


def _outside_task_dir(value):
    """True for an output path that does not stay inside the task directory."""
    if os.path.isabs(value):
        return True
    norm = os.path.normpath(value)
    return norm == ".." or norm.startswith(".." + os.sep)


def ok_all(alist, ok):
    for a in alist:
        for bp, b in a[0].items():
            if not ok(bp, b):
                return False
    return True


class _AltIndex:
    """Alternatives of one variable, indexed by the branches of already-bound branch points."""

    def __init__(self, alts):
        self.groups = {}
        for a in alts:
            key = tuple(sorted(a[0]))
            self.groups.setdefault(key, []).append(a)
        self.index = {}

    def candidates(self, M):
        if len(self.groups) == 1 and () in self.groups:
            return self.groups[()]
        out = []
        for bpkey, alist in self.groups.items():
            bound = tuple(bp for bp in bpkey if bp in M)
            if not bound:
                out.extend(alist)
                continue
            ik = (bpkey, bound)
            idx = self.index.get(ik)
            if idx is None:
                idx = {}
                for a in alist:
                    idx.setdefault(tuple(a[0][bp] for bp in bound), []).append(a)
                self.index[ik] = idx
            got = idx.get(tuple(M[bp] for bp in bound))
            if got:
                out.extend(got)
        return out


def _literals(expr, out):
    if isinstance(expr, ELit):
        out.add(expr.value)
    elif isinstance(expr, EBP):
        for _, e in expr.branches:
            _literals(e, out)
    elif isinstance(expr, EList):
        for e in expr.items:
            _literals(e, out)
