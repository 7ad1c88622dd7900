"""Error types and their rendering (file:line:column, the offending line, a caret, what to do)."""


class DucttapeError(Exception):
    """A user-facing error: a problem in a workflow, a config, the command line or the disk state.

    ``file``/``line``/``col`` (1-based) locate it; ``src`` is the text of the offending line;
    ``hint`` says what is expected or how to fix it.
    """

    def __init__(self, msg, file=None, line=None, col=None, src=None, hint=None):
        super().__init__(msg)
        self.msg = msg
        self.file = file
        self.line = line
        self.col = col
        self.src = src
        self.hint = hint

    def format(self):
        head = "ERROR: "
        if self.file and self.line:
            loc = f"{self.file}:{self.line}"
            if self.col:
                loc += f":{self.col}"
            head += f"{loc}: "
        elif self.file:
            head += f"{self.file}: "
        out = [head + self.msg]
        if self.src is not None:
            text = self.src.rstrip("\n").replace("\t", " ")
            num = str(self.line) if self.line else ""
            out.append(f"  {num:>4} | {text}")
            if self.col:
                out.append("       | " + " " * (self.col - 1) + "^")
        if self.hint:
            out.append("  expected: " + self.hint if not self.hint[:1].isupper() else "  " + self.hint)
        return "\n".join(out)

    def __str__(self):
        return self.format()


class ErrorList(DucttapeError):
    """Several errors found in one pass (static checks); printed one after the other."""

    def __init__(self, errors):
        super().__init__(f"{len(errors)} errors")
        self.errors = list(errors)

    def format(self):
        parts = [e.format() for e in self.errors]
        n = len(self.errors)
        parts.append(f"{n} error{'s' if n != 1 else ''}")
        return "\n".join(parts)


class TaskFailed(Exception):
    """Raised internally when one or more tasks failed during execution."""


class Interrupted(Exception):
    """Raised when the user pressed Ctrl-C."""
