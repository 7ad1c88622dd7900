"""Logging for task scripts: one format, and a record of what each task read and wrote."""
from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the message (a later redirect, pytest's
    capture of the current test), not to the stream that was there when the first logger was made."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns one; the property ignores it
        pass


def get_logger(name: str) -> logging.Logger:
    """A logger writing to stderr; the level comes from ``SPIRE_LOG_LEVEL`` (default INFO)."""
    root = logging.getLogger("spire")
    if not root.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        root.addHandler(handler)
        root.setLevel(os.environ.get("SPIRE_LOG_LEVEL", "INFO").upper())
        root.propagate = False
    return logging.getLogger(name if name.startswith("spire") else f"spire.{name}")


def log_read(log: logging.Logger, what: str, path, detail: str = "") -> None:
    log.info("read %s: %s%s", what, path, f" ({detail})" if detail else "")


def log_wrote(log: logging.Logger, what: str, path, detail: str = "") -> None:
    log.info("wrote %s: %s%s", what, path, f" ({detail})" if detail else "")
