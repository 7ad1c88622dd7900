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


def tape_task(tape: str, name: str):
    """A task of a workflow file, parsed by the repository's ducttape."""
    from ducttape.syntax import parse_file

    for block in parse_file(str(REPO / "workflows" / tape)):
        if type(block).__name__ == "TaskDef" and block.name == name:
            return block
    raise AssertionError(f"no task {name} in {tape}")


def test_pseudo_translate_translates_under_the_decode_python(tmp_path):
    """PseudoTranslate's translation step (tasks/decode.py) runs under decode_python, like Decode;
    the prompt builder stays in the main environment."""
    task = tape_task("it.tape", "PseudoTranslate")
    assert "decode_python" in [p.name for p in task.params]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "text.txt").write_text("the cat sat\na dog ran\n")
    (corpus / "units.txt").write_text("\n\n")
    calls = tmp_path / "calls"
    fake = tmp_path / "python-gpu"
    # records how it was called and writes the hypotheses decode.py would have written
    fake.write_text('#!/bin/bash\necho "$SPIRE_DECODE_PYTHON|$*" >> ' + str(calls) + '\n'
                    'while [ $# -gt 0 ]; do if [ "$1" = --out ]; then echo hyp > "$2"; fi; shift; done\n')
    fake.chmod(0o755)
    env = dict(os.environ, repo=str(REPO), mt_model=str(tmp_path / "model"), corpus=str(corpus),
               shots_dir=str(tmp_path / "shots"), mt=str(tmp_path / "mt"), langs="de fr",
               style="base", shots="0", chunk="0", chunks="1", batch_size="4",
               max_new_tokens="8", backend="hf", decode_python=str(fake), seed="42",
               PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}")
    env.pop("SPIRE_DECODE_PYTHON", None)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", task.body], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = calls.read_text().splitlines()
    assert len(lines) == 2  # one translation per language, each run by the decode interpreter
    for line, lang in zip(lines, ("de", "fr")):
        assert line.startswith(f"|{DECODE} --model {tmp_path / 'model'} --prompts prompts.{lang}.jsonl")
        assert f"--out {tmp_path / 'mt'}/mt.{lang}.txt" in line and "--backend hf" in line
    # the prompts were built by the main interpreter, before decoding
    assert len((tmp_path / "prompts.de.jsonl").read_text().splitlines()) == 2
