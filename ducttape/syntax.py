"""Parser for the ducttape 0.3 language (.tape and .tconf files).

A hand-written, whitespace-sensitive recursive-descent parser that mirrors the grammar of
ducttape 0.3 (spec §1). It produces the small AST defined below; every node carries a ``Pos``
so later stages can report ``file:line:col`` and resolve relative paths against the directory of
the file a literal was written in. Task bodies are kept byte-exact.
"""

import re
from bisect import bisect_right

from .errors import DucttapeError

# Source text of every file parsed so far, for error messages that show the offending line.
SOURCES = {}


def source_line(file, line):
    text = SOURCES.get(file)
    if text is None or not line:
        return None
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        return lines[line - 1]
    return None


class Pos:
    __slots__ = ("file", "line", "col")

    def __init__(self, file, line, col):
        self.file = file
        self.line = line
        self.col = col

    def __str__(self):
        return f"{self.file}:{self.line}"

    def error(self, msg, hint=None):
        return DucttapeError(msg, self.file, self.line, self.col, source_line(self.file, self.line), hint)


# ----------------------------------------------------------------------------------------------
# AST
# ----------------------------------------------------------------------------------------------

class Literal:
    __slots__ = ("value", "quoted", "pos")

    def __init__(self, value, quoted, pos):
        self.value = value
        self.quoted = quoted
        self.pos = pos

    def __repr__(self):
        return f"Literal({self.value!r})"


class Sequence:
    """``(Name: start..end[..step])``: a branch point whose branches are decimal numbers."""
    __slots__ = ("name", "start", "end", "step", "pos")

    def __init__(self, name, start, end, step, pos):
        self.name = name
        self.start = start
        self.end = end
        self.step = step
        self.pos = pos

    def values(self):
        return expand_sequence(self.start, self.end, self.step, self.pos)

    def __repr__(self):
        return f"Sequence({self.name}: {self.start}..{self.end}..{self.step})"


class BranchPoint:
    """``(Name: b1=v1 b2 ...)``; ``branches`` is a list of (branch_name, rvalue, pos)."""
    __slots__ = ("name", "branches", "pos")

    def __init__(self, name, branches, pos):
        self.name = name
        self.branches = branches
        self.pos = pos

    def __repr__(self):
        return f"BranchPoint({self.name}: {[b for b, _, _ in self.branches]})"


class VarRef:
    """``$v``, ``$v@Task``, ``$v[BP:b]``, ``$v@Task[BP:b,...]`` (and the ``${v}`` spellings)."""
    __slots__ = ("name", "task", "grafts", "pos")

    def __init__(self, name, task, grafts, pos):
        self.name = name
        self.task = task
        self.grafts = grafts  # None or list of (bp, branch-or-'*')
        self.pos = pos

    def __repr__(self):
        return f"VarRef(${self.name}@{self.task}{self.grafts or ''})"


class Shorthand:
    """``@`` (same-named global), ``@Task`` and ``@Task[grafts]`` (same-named variable of Task)."""
    __slots__ = ("task", "grafts", "pos")

    def __init__(self, task, grafts, pos):
        self.task = task
        self.grafts = grafts
        self.pos = pos

    def __repr__(self):
        return f"Shorthand(@{self.task or ''}{self.grafts or ''})"


class Spec:
    """One header item or config line: ``name[=value]``; ``dot`` for ``.name=value``."""
    __slots__ = ("name", "value", "dot", "pos", "kind")

    def __init__(self, name, value, dot, pos, kind):
        self.name = name
        self.value = value
        self.dot = dot
        self.pos = pos
        self.kind = kind  # 'in', 'out', 'param', 'pkg', 'global'

    def __repr__(self):
        return f"Spec({self.kind} {'.' if self.dot else ''}{self.name}={self.value!r})"


class TaskDef:
    """task / func / package / action / of blocks (and ``task x calls f``)."""

    def __init__(self, kind, name, pos):
        self.kind = kind
        self.name = name
        self.pos = pos
        self.inputs = []
        self.outputs = []
        self.params = []
        self.packages = []
        self.ordered = []  # all header specs in source order
        self.body = None
        self.body_pos = None
        self.calls = None  # (func name, pos) for ``task x calls f``
        self.comments = ""

    def specs(self):
        return self.inputs + self.outputs + self.params + self.packages

    def __repr__(self):
        return f"TaskDef({self.kind} {self.name})"


class GroupBlock:
    """submitter / versioner / summary: a header plus child ``action`` / ``of`` blocks."""

    def __init__(self, kind, name, header, children, pos):
        self.kind = kind
        self.name = name
        self.header = header  # TaskDef holding the header specs
        self.children = children
        self.pos = pos


class ConfigBlock:
    """``global { ... }`` and ``config [name] { ... }``."""

    def __init__(self, kind, name, specs, pos):
        self.kind = kind
        self.name = name
        self.specs = specs
        self.pos = pos


class Clause:
    """``reach T1, T2 via (BP: a b) * (BP2: *)``; ``cross`` is None without ``via``.

    ``cross`` is a list of (bp_name, branches-or-None-for-*, pos) in source order.
    """

    def __init__(self, goals, cross, pos):
        self.goals = goals  # list of (task name, pos)
        self.cross = cross
        self.pos = pos


class PlanBlock:
    def __init__(self, name, clauses, pos):
        self.name = name
        self.clauses = clauses
        self.pos = pos


class Import:
    def __init__(self, path, pos):
        self.path = path
        self.pos = pos


class Unsupported:
    def __init__(self, kind, pos):
        self.kind = kind
        self.pos = pos


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BRANCH_NAME_RE = re.compile(r"[A-Za-z0-9_\-.]+")
NAMED_BRANCH_RE = re.compile(r"([A-Za-z0-9_\-.]+)=")
UNQUOTED_RE = re.compile(r"[^\"')(\]\[*+$:@=\s]+")
BRANCH_ASSIGN_RE = re.compile(r"([^\s=()\"'$@\[\]]+)=")  # name= of a branch, legal or not
INFERRED_BRANCH_RE = re.compile(r"[^\"')(\]\[*$:@=\s/]+")
NUM = r"[+-]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
SEQ_RE = re.compile(rf"({NUM})\.\.({NUM})(?:\.\.({NUM}))?")
HEADER_MARKS = ("{", "}", "<", ">")  # never a branch: a ')' before them is missing
# anything made of number characters around '..' (to reject malformed sequences such as .5..1.5)
LOOSE_SEQ_RE = re.compile(r"[-+0-9.eE]*\.\.[-+0-9.eE]*(?=[\s)]|\Z)")
SP_RE = re.compile(r"[ \t]*")
WS_RE = re.compile(r"\s*")

BLOCK_KEYWORDS = ("task", "func", "package", "submitter", "versioner", "summary", "global",
                  "config", "plan")
UNSUPPORTED_KEYWORDS = ("group", "branchpoint", "baseline", "branch", "action", "of")

JAVA_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "r": "\r", "f": "\f", "\\": "\\", "'": "'",
                '"': '"', "s": " "}


def unescape_java(text):
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        d = text[i + 1]
        if d in JAVA_ESCAPES:
            out.append(JAVA_ESCAPES[d])
            i += 2
        elif d == "u":
            j = i + 2
            while j < n and text[j] == "u":
                j += 1
            hexdigits = text[j:j + 4]
            if len(hexdigits) == 4 and all(h in "0123456789abcdefABCDEF" for h in hexdigits):
                out.append(chr(int(hexdigits, 16)))
                i = j + 4
            else:
                out.append(d)
                i += 2
        elif d in "01234567":
            j = i + 1
            maxlen = 3 if d in "0123" else 2
            while j < n and j < i + 1 + maxlen and text[j] in "01234567":
                j += 1
            out.append(chr(int(text[i + 1:j], 8)))
            i = j
        else:
            out.append(d)
            i += 2
    return "".join(out)


def expand_sequence(start, end, step, pos=None):
    """Decimal values of ``start..end..step`` rendered like Scala's BigDecimal.toString."""
    from decimal import Decimal, InvalidOperation
    try:
        a, b, s = Decimal(start), Decimal(end), Decimal(step)
    except InvalidOperation:
        raise (pos.error if pos else DucttapeError)(f"Invalid number in sequence {start}..{end}..{step}")
    if s <= 0:
        if pos:
            raise pos.error(f"Sequence step must be positive, got {step}")
        raise DucttapeError(f"Sequence step must be positive, got {step}")
    out = []
    i = 0
    while True:
        v = a + s * i
        if v > b:
            break
        text = str(v)
        if "E" in text or "e" in text:
            text = text.upper()
        out.append(text)
        i += 1
        if i > 1000000:
            raise DucttapeError(f"Sequence {start}..{end}..{step} is too long")
    if not out and pos:
        raise pos.error(f"Sequence {start}..{end} is empty (the end is smaller than the start)")
    return out


def infer_branch_name(value, pos):
    """Name of a branch written without ``name=`` (spec §1.5.4)."""
    if isinstance(value, Literal):
        if "/" in value.value:
            raise pos.error(f"Branch name {value.value!r} may not contain '/' (a branch name is "
                            "part of the task's directory name)",
                            "write the branch as name=value, e.g. "
                            f"{re.sub(r'[^A-Za-z0-9_.-]', '_', value.value)}={value.value!r}")
        if not value.value or not INFERRED_BRANCH_RE.fullmatch(value.value):
            raise pos.error(f"Could not use {value.value!r} as a branch name",
                            "write the branch as name=value, e.g. "
                            f"my_branch={value.value!r}")
        return value.value
    if isinstance(value, VarRef) and value.task is not None:
        return value.name
    if isinstance(value, (BranchPoint, Sequence)):
        return value.name
    raise pos.error("Could not figure out how to extract a branch name from this value",
                    "write the branch as name=value, e.g. b1=$var")


# ----------------------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------------------

class Parser:
    def __init__(self, text, file):
        if text.startswith("\ufeff"):
            text = text[1:]
        self.s = text
        self.n = len(text)
        self.i = 0
        self.file = file
        SOURCES[file] = text
        self.line_starts = [0]
        idx = text.find("\n")
        while idx >= 0:
            self.line_starts.append(idx + 1)
            idx = text.find("\n", idx + 1)

    # ---- positions and errors ----
    def pos(self, i=None):
        if i is None:
            i = self.i
        ln = bisect_right(self.line_starts, i)
        return Pos(self.file, ln, i - self.line_starts[ln - 1] + 1)

    def error(self, msg, hint=None, i=None):
        return self.pos(i).error(msg, hint)

    def describe(self, i=None):
        if i is None:
            i = self.i
        if i >= self.n:
            return "end of file"
        c = self.s[i]
        if c == "\n":
            return "end of line"
        return repr(c)

    # ---- low level ----
    def peek(self, k=0):
        j = self.i + k
        return self.s[j] if j < self.n else ""

    def at(self, text):
        return self.s.startswith(text, self.i)

    def sp(self):
        j = SP_RE.match(self.s, self.i).end()
        k = j - self.i
        self.i = j
        return k

    def ws(self):
        j = WS_RE.match(self.s, self.i).end()
        k = j - self.i
        self.i = j
        return k

    def skip_block_comment(self):
        start = self.i
        depth = 0
        s = self.s
        while self.i < self.n:
            if s.startswith("/*", self.i):
                depth += 1
                self.i += 2
            elif s.startswith("*/", self.i):
                depth -= 1
                self.i += 2
                if depth == 0:
                    return
            else:
                self.i += 1
        raise self.error("Unclosed block comment /* ... */", "a closing */", start)

    def skip_line_comment(self):
        j = self.s.find("\n", self.i)
        self.i = self.n if j < 0 else j

    def at_comment(self):
        c = self.peek()
        return c == "#" or self.at("//") or self.at("/*")

    def skip_comment(self):
        if self.at("/*"):
            self.skip_block_comment()
        else:
            self.skip_line_comment()

    def ws_comments(self):
        """Skip whitespace (including newlines) and comments; return True if anything skipped."""
        start = self.i
        while True:
            self.ws()
            if self.at_comment():
                self.skip_comment()
                continue
            break
        return self.i > start

    def sp_comments(self):
        """Skip spaces/tabs and block comments on the same line."""
        start = self.i
        while True:
            self.sp()
            if self.at("/*"):
                self.skip_block_comment()
                continue
            break
        return self.i > start

    def end_of_line(self, what):
        """Spaces, an optional comment, then a newline or the end of the file."""
        self.sp_comments()
        if self.peek() == "#" or self.at("//"):
            self.skip_line_comment()
        if self.i >= self.n:
            return
        if self.peek() == "\n":
            self.i += 1
            return
        if self.at("\r\n"):
            self.i += 2
            return
        raise self.error(f"Unexpected {self.describe()} after {what}",
                         f"nothing but spaces or a comment after {what} on this line")

    def name(self, what):
        m = NAME_RE.match(self.s, self.i)
        if not m:
            raise self.error(f"Expected a {what} name but found {self.describe()}",
                             "a name made of letters, digits and _ (not starting with a digit)")
        self.i = m.end()
        return m.group(0)

    def name_end(self, what, allowed=" \t\r\n"):
        c = self.peek()
        if c and c not in allowed:
            raise self.error(f"Illegal character {c!r} in {what} name",
                             "names may contain only letters, digits and _")

    def require_sp(self, what):
        if self.sp() == 0:
            raise self.error(f"Expected a space after {what} but found {self.describe()}")

    # ---- file ----
    def parse(self):
        items = []
        while True:
            self.ws_comments()
            if self.i >= self.n:
                break
            start = self.i
            m = NAME_RE.match(self.s, self.i)
            if not m:
                raise self.error(f"Unexpected {self.describe()} at the top level",
                                 "a block (task, global, plan, func, submitter, versioner, "
                                 "summary, package, config) or an import statement")
            word = m.group(0)
            if word == "import":
                self.i = m.end()
                items.append(self.import_stmt(start))
                continue
            if word not in BLOCK_KEYWORDS and word not in UNSUPPORTED_KEYWORDS:
                raise self.error(f"Unknown block type '{word}'",
                                 "one of task, func, package, submitter, versioner, summary, "
                                 "global, config, plan, or import")
            self.i = m.end()
            c = self.peek()
            if c not in (" ", "\t"):
                if word in ("global", "config", "plan") and c == "{":
                    raise self.error(f"Expected a space between '{word}' and '{{'")
                raise self.error(f"Expected a space after '{word}' but found {self.describe()}")
            if word in UNSUPPORTED_KEYWORDS:
                raise self.error(f"'{word}' blocks are not supported",
                                 hint="ducttape 0.3 parses but rejects them; use task/plan blocks")
            items.append(getattr(self, "block_" + word)(start))
        return items

    def import_stmt(self, start):
        self.sp()
        if self.i >= self.n or self.peek() in "\r\n":
            raise self.error("Expected a file name after 'import'", 'import "other.tconf"')
        lit = self.literal()
        self.end_of_line("the import statement")
        return Import(lit, self.pos(start))

    # ---- task-like blocks ----
    def block_task(self, start):
        self.sp()
        pos = self.pos()
        name = self.name("task")
        self.name_end("task")
        t = TaskDef("task", name, pos)
        m = re.compile(r"[ \t]+calls[ \t]+").match(self.s, self.i)
        if m:
            self.i = m.end()
            fpos = self.pos()
            fname = self.name("function")
            self.name_end("function")
            t.calls = (fname, fpos)
            self.header(t, func=False, body=False)
            return t
        self.header(t, func=False)
        self.body(t, "task")
        return t

    def block_func(self, start):
        self.sp()
        pos = self.pos()
        name = self.name("function")
        self.name_end("function")
        t = TaskDef("func", name, pos)
        self.header(t, func=True)
        self.body(t, "func")
        return t

    def block_package(self, start):
        self.sp()
        pos = self.pos()
        name = self.name("package")
        self.name_end("package")
        t = TaskDef("package", name, pos)
        self.header(t, func=False)
        self.body(t, "package")
        return t

    def body(self, t, what):
        if self.peek() != "{":
            raise self.error(f"Expected '{{' to start the body of {what} '{t.name}' but found "
                             f"{self.describe()}",
                             "a header group starting with <, >, :: or : (one per line), then { ... }")
        self.i += 1
        t.body_pos = self.pos()
        start = self.i
        end = scan_bash(self, self.i)
        t.body = self.s[start:end]
        self.i = end + 1
        self.end_of_line(f"the closing }} of {what} '{t.name}'")

    def header(self, t, func, body=True):
        """Header groups of a task-like block. Stops before '{' (or, for calls, at the next block)."""
        kinds = {"<": "in", ">": "out", "::": "param", ":": "pkg"}
        first = True
        while True:
            save = self.i
            skipped = self.ws_comments()
            c = self.peek()
            if c == "{" and body:
                return
            if self.at("::"):
                marker = "::"
            elif c in ("<", ">", ":"):
                marker = c
            else:
                if not body:
                    self.i = save
                    return
                raise self.error(f"Unexpected {self.describe()} in the header of {t.kind} '{t.name}'",
                                 "a header group starting with <, >, :: or : (each on its own line "
                                 "or separated by spaces), then { to start the body")
            if not first and not skipped and self.s[self.i - 1] not in " \t\r\n":
                raise self.error(f"Expected whitespace before '{marker}'")
            first = False
            self.i += len(marker)
            if self.peek() not in (" ", "\t", "\n", "\r", ""):
                raise self.error(f"Expected a space after '{marker}' but found {self.describe()}")
            self.group(t, kinds[marker], func)

    def group(self, t, kind, func):
        lst = {"in": t.inputs, "out": t.outputs, "param": t.params, "pkg": t.packages}[kind]
        while True:
            n = self.sp_comments()
            c = self.peek()
            if c == "" or c in "\r\n" or c == "#" or self.at("//"):
                return
            if c == "{":
                return
            if c in "<>:":
                # next group on the same line
                return
            if c == "\\":
                raise self.error("A task header has no line continuation character",
                                 "start the next line with a new <, > or :: group instead of "
                                 "ending this one with \\")
            if n == 0:
                raise self.error(f"Expected a space between header items but found {self.describe()}")
            item = self.header_item(t, kind, func)
            lst.append(item)
            t.ordered.append(item)

    def header_item(self, t, kind, func):
        start = self.i
        pos = self.pos()
        dot = False
        if kind == "param" and self.peek() == ".":
            dot = True
            self.i += 1
        what = {"in": "input", "out": "output", "param": "parameter", "pkg": "package"}[kind]
        if not NAME_RE.match(self.s, self.i):
            raise self.error(f"Expected {'an' if what[0] in 'aeiou' else 'a'} {what} name but found "
                             f"{self.describe()}",
                             "a variable name (letters, digits, _), e.g. "
                             + {"in": "in=file.txt", "out": "out=file.txt", "param": "n=5",
                                "pkg": "my_package"}[kind])
        name = self.name(what)
        if kind == "pkg" or func:
            self.name_end(what, " \t\r\n{")
            return Spec(name, None, dot, pos, kind)
        if kind == "param":
            save = self.i
            self.sp()
            if self.peek() == "=":
                self.i += 1
                self.sp()
            else:
                self.i = save
                if self.peek() not in " \t\r\n{" and self.peek() != "":
                    raise self.error(f"Illegal character {self.peek()!r} in parameter name '{name}'",
                                     "names may contain only letters, digits and _; "
                                     f"write {name}=value")
                raise self.error(f"Parameter '{name}' of {t.kind} '{t.name}' has no value",
                                 f"{name}=value")
        else:
            if self.peek() != "=":
                c = self.peek()
                if c and c not in " \t\r\n{":
                    if c == ".":
                        ext = re.compile(r"\.[A-Za-z0-9_.\-]*").match(self.s, self.i).group(0)
                        raise self.error(f"Illegal character '.' in {what} name '{name}'",
                                         f"variable names must be bash identifiers; write "
                                         f"{name}{ext.replace('.', '_')}={name}{ext} to get a "
                                         f"file name with a dot")
                    raise self.error(f"Illegal character {c!r} in {what} name '{name}'",
                                     "names may contain only letters, digits and _")
                if kind == "in":
                    raise self.error(f"Input '{name}' of {t.kind} '{t.name}' has no value",
                                     f"{name}=/path/to/file or {name}=$out@SomeTask")
                return Spec(name, None, False, pos, kind)
            self.i += 1
        if self.peek() in (" ", "\t", "\r", "\n", ""):
            raise self.error(f"Missing value after '{name}='",
                             "a value right after '=' (no spaces for inputs and outputs); "
                             "use \"\" for an empty parameter")
        value = self.rvalue()
        return Spec(name, value, dot, pos, kind)

    # ---- rvalues ----
    def rvalue(self):
        c = self.peek()
        start = self.i
        if c == "(":
            return self.branch_point()
        if c == "@":
            self.i += 1
            pos = self.pos(start)
            if self.peek() == "[":
                raise self.error("A shorthand graft '@[...]' on a global variable is not allowed",
                                 "$name[BP:branch]")
            if NAME_RE.match(self.s, self.i):
                task = self.name("task")
                grafts = self.grafts() if self.peek() == "[" else None
                self.ref_end(f"@{task}")
                return Shorthand(task, grafts, pos)
            self.ref_end("@")
            return Shorthand(None, None, pos)
        if c == "$":
            self.i += 1
            pos = self.pos(start)
            if self.peek() == "{":
                self.i += 1
                name = self.name("variable")
                if self.peek() != "}":
                    raise self.error(f"Expected '}}' after '${{{name}' but found {self.describe()}")
                self.i += 1
            else:
                if not NAME_RE.match(self.s, self.i):
                    raise self.error(f"Expected a variable name after '$' but found {self.describe()}",
                                     "$name, ${name} or $name@Task")
                name = self.name("variable")
            task = None
            if self.peek() == "@":
                self.i += 1
                task = self.name("task")
            grafts = self.grafts() if self.peek() == "[" else None
            self.ref_end("$" + name + (f"@{task}" if task else ""))
            return VarRef(name, task, grafts, pos)
        return self.literal()

    def ref_end(self, what):
        c = self.peek()
        if c and c not in " \t\r\n)":
            if c == "#":
                return
            raise self.error(f"Unexpected {c!r} right after {what}",
                             "whitespace or ')' after a variable reference (build strings "
                             "from variables in the bash body, not in the header)")

    def grafts(self):
        start = self.i
        self.i += 1  # [
        out = []
        while True:
            bp = self.name("branch point")
            if self.peek() != ":":
                raise self.error(f"Expected ':' after '{bp}' in branch graft",
                                 "[BranchPoint:branch,OtherBP:branch]")
            self.i += 1
            if self.peek() == "*":
                self.i += 1
                br = "*"
            else:
                m = BRANCH_NAME_RE.match(self.s, self.i)
                if not m:
                    raise self.error(f"Expected a branch name or * after '{bp}:' in branch graft")
                br = m.group(0)
                self.i = m.end()
            out.append((bp, br))
            c = self.peek()
            if c == ",":
                self.i += 1
                continue
            if c == "]":
                self.i += 1
                return out
            raise self.error(f"Unexpected {self.describe()} in branch graft",
                             "[BP:branch,BP2:branch] with no spaces", )

    def literal(self):
        start = self.i
        pos = self.pos()
        s = self.s
        if s.startswith('"""', self.i):
            j = s.find('"""', self.i + 3)
            if j < 0:
                raise self.error('Unclosed triple-quoted string', 'a closing """')
            self.i = j + 3
            return Literal(s[start + 3:j], True, pos)
        c = self.peek()
        if c in ('"', "'"):
            j = self.i + 1
            while j < self.n:
                d = s[j]
                if d == "\\":
                    j += 2
                    continue
                if d == c:
                    break
                j += 1
            if j >= self.n:
                raise self.error(f"Unclosed quoted string starting here", f"a closing {c}")
            raw = s[self.i + 1:j]
            self.i = j + 1
            nxt = self.peek()
            if nxt and nxt not in " \t\r\n)":
                raise self.error(f"Unexpected {nxt!r} right after a quoted string",
                                 "whitespace or ')' after the closing quote; put the whole value "
                                 "inside the quotes")
            return Literal(unescape_java(raw), True, pos)
        m = UNQUOTED_RE.match(s, self.i)
        if not m:
            if self.i >= self.n or c in "\r\n":
                raise self.error("Expected a value but found the end of the line")
            raise self.error(f"Expected a value but found {self.describe()}",
                             "a literal (quote it if it contains special characters), "
                             "$var, $var@Task, @Task or (BranchPoint: ...)")
        self.i = m.end()
        nxt = self.peek()
        if nxt and nxt in "@\"'[]:*+$(=":
            raise self.error(f"An unquoted literal may not contain a {nxt} symbol",
                             f"quote the value: \"{m.group(0)}{nxt}...\"")
        return Literal(m.group(0), False, pos)

    def branch_point(self):
        start = self.i
        pos = self.pos()
        self.i += 1
        self.ws_comments()
        m = NAME_RE.match(self.s, self.i)
        sm = SEQ_RE.match(self.s, self.i)
        if sm and (not m or sm.end() > m.end()):
            raise self.error("Anonymous branch points are not yet supported",
                             "(Name: 1..10) -- give the branch point a name")
        if not m:
            raise self.error(f"Expected a branch point name after '(' but found {self.describe()}",
                             "(Name: branch1=value1 branch2=value2)")
        name = m.group(0)
        self.i = m.end()
        self.ws()
        if self.peek() != ":":
            raise self.error("Anonymous branch points are not yet supported"
                             if self.peek() in " \t\r\n)" or NAME_RE.match(self.s, self.i)
                             else f"Expected ':' after branch point name '{name}' but found "
                                  f"{self.describe()}",
                             f"({name}: branch1=value1 branch2=value2)")
        self.i += 1
        self.ws_comments()
        sm = SEQ_RE.match(self.s, self.i)
        if sm:
            j = WS_RE.match(self.s, sm.end()).end()
            if j < self.n and self.s[j] == ")":
                self.i = j + 1
                seq = Sequence(name, sm.group(1), sm.group(2), sm.group(3) or "1", pos)
                seq.values()  # validate
                return seq
        self.reject_bad_sequence(name)
        try:
            branches = self.branches(name, start)
        except DucttapeError as e:
            raise self.unclosed(e, name, start) from None
        if not branches:
            raise pos.error(f"Branch point '{name}' has no branches")
        return BranchPoint(name, branches, pos)

    def reject_bad_sequence(self, bp):
        """A numeric-looking ``a..b[..c]`` that is not a valid sequence (``.5..1.5``, ``1..``)
        is an error (spec §1.4), not one bare branch named after the whole text."""
        m = LOOSE_SEQ_RE.match(self.s, self.i)
        if m and not SEQ_RE.fullmatch(m.group(0)):
            raise self.error(f"Invalid sequence '{m.group(0)}' in '({bp}: ...)'",
                             "a sequence START..END[..STEP] with a digit before every point "
                             "(0.5..1.5..0.5, not .5..1.5..0.5)")

    def unclosed(self, e, name, start):
        """An error met while reading the branches of '(' opened at ``start`` that is most likely
        a missing ')': the branch list ran into a task header marker (':', '<', '>') or a brace.
        Report it where the '(' was opened (spec §1.5.4: branch points may span lines, so the
        place where parsing failed is usually far from the mistake)."""
        opened = self.pos(start)
        i = self._err_index(e)
        found = self.s[i] if i < self.n else ""
        # only where a new item would start: `gpu:1` is a literal needing quotes, not a lost ')'
        starts_item = i == 0 or self.s[i - 1] in " \t\r\n"
        if e.file != self.file or not found or found not in ":<>{}" or not starts_item:
            return e
        return opened.error(
            f"Unclosed branch point '({name}: ...' -- no ')' before {e.file}:{e.line}:{e.col} "
            f"(there: {e.msg})",
            "close the branch point with ')'; it may span lines, but only branches may follow "
            "it until the ')'")

    def _err_index(self, e):
        if not e.line or e.line > len(self.line_starts):
            return self.n
        return self.line_starts[e.line - 1] + (e.col or 1) - 1

    def branches(self, name, start):
        branches = []
        while True:
            skipped = self.ws_comments()
            c = self.peek()
            if c == ")":
                self.i += 1
                break
            if c == "":
                raise self.error(f"Unclosed branch point '({name}: ...' -- expected ')'", i=start)
            if branches and not skipped:
                raise self.error(f"Expected whitespace between branches of '{name}' but found "
                                 f"{self.describe()}")
            bpos = self.pos()
            self.reject_bad_branch_name(name)
            bm = NAMED_BRANCH_RE.match(self.s, self.i)
            if bm:
                bname = bm.group(1)
                self.i = bm.end()
                if self.peek() in (" ", "\t", "\r", "\n", ")", ""):
                    raise self.error(f"Missing value after '{bname}='",
                                     f"{bname}=value (use \"\" for an empty value)")
                value = self.rvalue()
            else:
                value = self.rvalue()
                if isinstance(value, Shorthand):
                    raise bpos.error("Could not figure out how to extract a branch name from '@'",
                                     "write the branch as name=@Task")
                bname = infer_branch_name(value, bpos)
            if isinstance(value, Literal) and not value.quoted and value.value in HEADER_MARKS:
                # a task header's marker or body brace read as a branch: the ')' is missing
                raise bpos.error(f"Unexpected {value.value!r} inside '({name}: ...'",
                                 "a ')' closing the branch point")
            branches.append((bname, value, bpos))
        return branches

    def reject_bad_branch_name(self, bp):
        """``a/b=...``: a branch name becomes part of a directory name, so '/' is refused
        by name (the literal reader would only say that '=' is not allowed)."""
        m = BRANCH_ASSIGN_RE.match(self.s, self.i)
        if m and not NAMED_BRANCH_RE.fullmatch(m.group(0)):
            bad = next(c for c in m.group(1) if not re.match(r"[A-Za-z0-9_\-.]", c))
            raise self.error(f"Branch name {m.group(1)!r} of branch point '{bp}' may not "
                             f"contain {bad!r}",
                             "letters, digits, '_', '-' and '.' (a branch name is part of "
                             f"the task's directory name), e.g. "
                             f"{re.sub(r'[^A-Za-z0-9_.-]', '_', m.group(1))}=")

    # ---- global / config ----
    def block_global(self, start):
        return self.config_block("global", start)

    def block_config(self, start):
        return self.config_block("config", start)

    def config_block(self, kind, start):
        self.sp()
        pos = self.pos(start)
        name = None
        if self.peek() != "{":
            m = NAME_RE.match(self.s, self.i)
            if m and kind == "global":
                raise self.error("A global block may not have a name", "global {")
            if not m:
                raise self.error(f"Expected '{{' after '{kind}' but found {self.describe()}")
            name = m.group(0)
            self.i = m.end()
            self.sp()
            if self.peek() != "{":
                raise self.error(f"Expected '{{' after '{kind} {name}' but found {self.describe()}")
        self.i += 1
        self.end_of_line(f"'{kind} {{' (assignments start on the next line)")
        specs = []
        while True:
            self.ws_comments()
            c = self.peek()
            if c == "}":
                self.i += 1
                self.end_of_line(f"the closing }} of the {kind} block")
                break
            if c == "":
                raise pos.error(f"Missing closing }} for the {kind} block", "a line with }")
            self.reject_block_start(kind, pos)
            ipos = self.pos()
            dot = False
            if c == ".":
                dot = True
                self.i += 1
            if not NAME_RE.match(self.s, self.i):
                raise self.error(f"Expected a variable assignment name=value in the {kind} block "
                                 f"but found {self.describe()}", "name=value, one per line")
            vname = self.name("variable")
            self.sp()
            if self.peek() != "=":
                raise self.error(f"Expected '=' after '{vname}' but found {self.describe()}",
                                 f"{vname}=value")
            self.i += 1
            self.sp()
            if self.peek() in ("\r", "\n", "", "#"):
                raise self.error(f"Missing value after '{vname}='", '""  for an empty value')
            value = self.rvalue()
            specs.append(Spec(vname, value, dot, ipos, "global"))
            self.end_of_line(f"the value of '{vname}'")
        return ConfigBlock(kind, name, specs, pos)

    def reject_block_start(self, kind, opened):
        """A block keyword at the start of a line inside a global/config block (``task x {``,
        ``plan p {``) means its '}' is missing: report it where the block was opened, not as a
        bad assignment in the next block."""
        m = NAME_RE.match(self.s, self.i)
        if not m or m.group(0) not in BLOCK_KEYWORDS + ("import",):
            return
        line_start = self.s.rfind("\n", 0, self.i) + 1
        if self.s[line_start:self.i].strip():
            return
        after = SP_RE.match(self.s, m.end()).end()
        if after < self.n and self.s[after] == "=" or after == m.end():
            return  # an assignment named like a keyword (task=...), or not a keyword at all
        here = self.pos()
        raise opened.error(f"Unclosed {kind} block: no '}}' before the '{m.group(0)}' at "
                           f"{here.file}:{here.line}",
                           f"a line with }} closing the {kind} block before line {here.line}")

    # ---- plans ----
    def block_plan(self, start):
        self.sp()
        pos = self.pos(start)
        name = None
        if self.peek() != "{":
            name = self.name("plan")
            self.name_end("plan", " \t\r\n{")
            self.ws()
        if self.peek() != "{":
            raise self.error(f"Expected '{{' after 'plan{(' ' + name) if name else ''}' but found "
                             f"{self.describe()}")
        self.i += 1
        self.sp_comments()
        if self.peek() not in ("\n", "\r", "", "#") and not self.at("//"):
            raise self.error("Plan lines may not start on the same line as the opening { brace.",
                             "put each 'reach' on its own line")
        clauses = []
        while True:
            self.ws_comments()
            c = self.peek()
            if c == "}":
                self.i += 1
                self.end_of_line("the closing } of the plan")
                break
            if c == "":
                raise pos.error(f"Missing closing }} for plan {name or ''}".rstrip(), "a line with }")
            if not self.at("reach"):
                raise self.error(f"Expected 'reach' in plan but found {self.describe()}",
                                 "reach Task1, Task2 via (BP: a b) * (BP2: *)")
            clauses.append(self.reach())
        return PlanBlock(name, clauses, pos)

    def reach(self):
        pos = self.pos()
        self.i += len("reach")
        self.require_sp("'reach'")
        goals = []
        while True:
            gpos = self.pos()
            goals.append((self.name("task"), gpos))
            self.sp()
            if self.peek() == ",":
                self.i += 1
                self.ws()
                continue
            break
        cross = None
        save = self.i
        self.sp()
        m = NAME_RE.match(self.s, self.i)
        if m and m.group(0) == "via":
            self.i += 3
            self.ws_comments()
            cross = self.cross()
        else:
            self.i = save
            self.end_of_line("the reach clause (expected 'via' or the end of the line)")
        return Clause(goals, cross, pos)

    def cross(self):
        wrapped = False
        if self.peek() == "{":
            wrapped = True
            self.i += 1
            self.ws_comments()
        out = []
        while True:
            out.append(self.bpref())
            save = self.i
            self.ws_comments()
            if self.peek() == "*":
                self.i += 1
                self.ws_comments()
                continue
            if wrapped:
                if self.peek() != "}":
                    raise self.error("Expected '}' to close the cross product")
                self.i += 1
            else:
                self.i = save
            break
        self.end_of_line("the cross product")
        return out

    def bpref(self):
        pos = self.pos()
        if self.peek() != "(":
            raise self.error(f"Expected '(' to start a branch point selection but found "
                             f"{self.describe()}", "(BranchPoint: branch1 branch2) or (BranchPoint: *)")
        self.i += 1
        self.ws_comments()
        bp = self.name("branch point")
        self.ws()
        if self.peek() != ":":
            raise self.error(f"Expected ':' after '{bp}' but found {self.describe()}",
                             f"({bp}: branch1 branch2)")
        self.i += 1
        items = []
        star = False
        while True:
            skipped = self.ws_comments()
            c = self.peek()
            if c == ")":
                self.i += 1
                break
            if c == "":
                raise pos.error(f"Unclosed '({bp}: ...' in plan", "')'")
            if items or star:
                if not skipped:
                    raise self.error(f"Expected whitespace between branch names but found "
                                     f"{self.describe()}")
            if c == "*":
                self.i += 1
                star = True
                continue
            sm = SEQ_RE.match(self.s, self.i)
            if sm and (sm.end() >= self.n or self.s[sm.end()] in " \t\r\n)"):
                self.i = sm.end()
                items.extend(expand_sequence(sm.group(1), sm.group(2), sm.group(3) or "1",
                                             self.pos(sm.start())))
                continue
            self.reject_bad_sequence(bp)
            lit = self.literal()
            items.append(lit.value)
        if not items and not star:
            raise pos.error(f"Empty branch selection ({bp}: )", f"({bp}: *) or ({bp}: branch ...)")
        return (bp, None if star else items, pos)

    # ---- submitter / versioner / summary ----
    def block_submitter(self, start):
        return self.group_block("submitter", "action", start)

    def block_versioner(self, start):
        return self.group_block("versioner", "action", start)

    def block_summary(self, start):
        return self.group_block("summary", "of", start)

    def group_block(self, kind, child_kw, start):
        self.sp()
        pos = self.pos()
        name = self.name(kind)
        self.name_end(kind, " \t\r\n{")
        header = TaskDef(kind, name, pos)
        self.header(header, func=(kind != "summary"))
        self.i += 1  # {
        self.end_of_line(f"'{{' of {kind} '{name}' (each {child_kw} block starts on its own line)")
        children = []
        while True:
            self.ws_comments()
            c = self.peek()
            if c == "}":
                self.i += 1
                self.end_of_line(f"the closing }} of {kind} '{name}'")
                break
            if c == "":
                raise pos.error(f"Missing closing }} for {kind} '{name}'")
            if not (self.at(child_kw) and self.s[self.i + len(child_kw):self.i + len(child_kw) + 1]
                    in (" ", "\t")):
                raise self.error(f"Expected '{child_kw}' block inside {kind} '{name}' but found "
                                 f"{self.describe()}",
                                 f"{child_kw} NAME ... {{ bash }}")
            self.i += len(child_kw)
            self.sp()
            cpos = self.pos()
            cname = self.name("action" if child_kw == "action" else "task")
            self.name_end(child_kw, " \t\r\n{")
            child = TaskDef(child_kw, cname, cpos)
            self.header(child, func=(child_kw == "action"))
            self.body(child, child_kw)
            children.append(child)
        return GroupBlock(kind, name, header, children, pos)


# ----------------------------------------------------------------------------------------------
# bash body scanner
# ----------------------------------------------------------------------------------------------

HEREDOC_RE = re.compile(r"<<(-?)[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\?([^\s;|&<>()'\"]+))")
WORD_BREAK = " \t\n;|&(){}<>"


def scan_bash(p, i):
    """Return the index of the '}' closing a task body that starts at ``i`` (after '{')."""
    try:
        return _scan(p.s, i, "}", p)
    except _ScanError as e:
        raise p.error(e.msg, e.hint, e.pos)


class _ScanError(Exception):
    def __init__(self, msg, pos, hint=None):
        self.msg = msg
        self.pos = pos
        self.hint = hint


def _scan(s, i, closer, p, start=None, arith=False):
    """Scan bash text until the unmatched ``closer`` ('}' or ')'); return its index."""
    n = len(s)
    opener = "{" if closer == "}" else "("
    depth = 1
    if start is None:
        start = i - 1
    heredocs = []
    word_start = True
    while i < n:
        c = s[i]
        if c == "\n":
            i += 1
            if heredocs:
                i = _skip_heredocs(s, i, heredocs)
                heredocs = []
            word_start = True
            continue
        if c == "\\":
            i += 2
            word_start = False
            continue
        if c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise _ScanError("Unclosed single quote in bash code", i,
                                 "a matching ' (in comments apostrophes are fine)")
            i = j + 1
            word_start = False
            continue
        if c == '"':
            i = _scan_dq(s, i + 1, p)
            word_start = False
            continue
        if c == "`":
            i = _scan_backtick(s, i + 1)
            word_start = False
            continue
        if c == "$":
            i = _scan_dollar(s, i, p)
            word_start = False
            continue
        if c == "#" and word_start:
            j = s.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "<" and s.startswith("<<", i) and not arith:
            if s.startswith("<<<", i):
                i += 3
                word_start = True
                continue
            m = HEREDOC_RE.match(s, i)
            if m:
                word = m.group(2) if m.group(2) is not None else (
                    m.group(3) if m.group(3) is not None else m.group(4))
                word = word.replace("\\", "")
                heredocs.append((word, m.group(1) == "-"))
                i = m.end()
                word_start = False
                continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i
        word_start = c in WORD_BREAK
        i += 1
    if closer == "}":
        raise _ScanError("Missing closing } brace for task block", start,
                         "a } matching this {; check unbalanced braces, quotes or heredocs in "
                         "the bash code")
    raise _ScanError("Missing closing ) in bash code", start, "a ) matching this (")


def _skip_heredocs(s, i, heredocs):
    n = len(s)
    for word, strip in heredocs:
        while True:
            if i >= n:
                raise _ScanError(f"Unterminated heredoc (no line '{word}')", n - 1)
            j = s.find("\n", i)
            line = s[i:] if j < 0 else s[i:j]
            i = n if j < 0 else j + 1
            if (line.lstrip("\t") if strip else line).rstrip("\r") == word:
                break
    return i


def _scan_dq(s, i, p):
    n = len(s)
    start = i - 1
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "$":
            i = _scan_dollar(s, i, p)
            continue
        if c == "`":
            i = _scan_backtick(s, i + 1)
            continue
        i += 1
    raise _ScanError('Unclosed double quote in bash code', start, 'a matching "')


def _scan_backtick(s, i):
    n = len(s)
    start = i - 1
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "`":
            return i + 1
        i += 1
    raise _ScanError("Unclosed backtick in bash code", start, "a matching `")


def _scan_dollar(s, i, p):
    """``s[i] == '$'``: skip the expansion and return the index after it."""
    n = len(s)
    nxt = s[i + 1] if i + 1 < n else ""
    if nxt == "(":
        return _scan(s, i + 2, ")", p, i, arith=s.startswith("((", i + 1)) + 1
    if nxt == "{":
        j = i + 2
        depth = 1
        while j < n:
            c = s[j]
            if c == "\\":
                j += 2
                continue
            if c == "'":
                k = s.find("'", j + 1)
                j = n if k < 0 else k + 1
                continue
            if c == '"':
                j = _scan_dq(s, j + 1, p)
                continue
            if c == "$":
                j = _scan_dollar(s, j, p)
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise _ScanError("Unclosed ${ in bash code", i, "a matching }")
    if nxt == "'":
        j = i + 2
        while j < n:
            c = s[j]
            if c == "\\":
                j += 2
                continue
            if c == "'":
                return j + 1
            j += 1
        raise _ScanError("Unclosed $'...' in bash code", i)
    return i + 1


def parse_text(text, file):
    return Parser(text, file).parse()


def parse_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise DucttapeError(f"File is not valid UTF-8: {e}", path)
    return parse_text(text, path)
