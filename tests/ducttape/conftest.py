import pytest

from dt_helpers import run_dt, write_dedented


@pytest.fixture
def dt(tmp_path):
    """Run ducttape in tmp_path: dt(args..., stdin=...) -> Result."""
    def _run(*args, stdin="", cwd=None, env=None, timeout=60):
        return run_dt(args, cwd or tmp_path, stdin=stdin, env=env, timeout=timeout)
    return _run


@pytest.fixture
def write(tmp_path):
    """write(relpath, text) -> absolute path; text is dedented."""
    def _write(rel, text):
        return write_dedented(tmp_path / rel, text)
    return _write


@pytest.fixture
def data(tmp_path):
    """small.txt (lines 1..5) and big.txt (lines 1..100) next to the tapes."""
    (tmp_path / "small.txt").write_text("".join(f"{i}\n" for i in range(1, 6)))
    (tmp_path / "big.txt").write_text("".join(f"{i}\n" for i in range(1, 101)))
    return tmp_path
