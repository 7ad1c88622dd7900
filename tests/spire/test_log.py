"""spire.log: messages go to the stderr of the moment, whoever made the first logger."""
from __future__ import annotations

import contextlib
import io

from spire.log import get_logger


def test_messages_follow_a_later_redirect_of_stderr():
    get_logger("spire.test_first")          # the handler exists before the redirect
    later = io.StringIO()
    with contextlib.redirect_stderr(later):
        get_logger("spire.test_later").warning("where does this go?")
    assert "where does this go?" in later.getvalue()
