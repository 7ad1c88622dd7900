"""tasks/decode.py runs under a configurable interpreter (the vLLM environment of `make gpu-env`)."""
import os
import subprocess
import sys

from tests.spire.lm_fixtures import REPO

DECODE = str(REPO / "tasks" / "decode.py")


def test_decode_reexecs_under_the_configured_python(tmp_path):
    mark = tmp_path / "called"
    fake = tmp_path / "python-gpu"
    fake.write_text(f'#!/bin/bash\necho "$SPIRE_DECODE_PYTHON|$*" > {mark}\nexec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    for how in ("flag", "env"):
        args = [sys.executable, DECODE, "--help"] + (["--python", str(fake)] if how == "flag" else [])
        env = dict(os.environ, SPIRE_DECODE_PYTHON=str(fake) if how == "env" else "")
        r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0 and "--max-new-tokens" in r.stdout, r.stderr
        # ran once under the fake interpreter, with the flag removed and no second re-exec
        assert mark.read_text() == f"|{DECODE} --help\n"
        mark.unlink()


def test_missing_decode_python_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, DECODE, "--help"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SPIRE_DECODE_PYTHON=str(tmp_path / "nope")))
    assert r.returncode != 0 and "SPIRE_DECODE_PYTHON" in r.stderr and "make gpu-env" in r.stderr
