"""Tiny tokenizers, models and corpora for the LM tests (built locally, offline).

Import the fixtures into a test module with ``from tests.spire.lm_fixtures import *`` or by name.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORDS = ("the a cat dog bird sat ran on under mat tree red blue small big and with near "
         "one two three house river saw likes eats").split()
N_UNITS = 40


def toy_sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(n)]


def run_task(script: str, *args, env_extra=None, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, str(REPO / "tasks" / script), *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"{script} failed ({r.returncode}):\n{r.stderr[-4000:]}")
    return r


def build_base_tokenizer(out_dir: Path) -> Path:
    """A SentencePiece tokenizer trained on toy sentences (the miniature's base tokenizer path)."""
    from spire.mini.base_lm import train_sentencepiece
    from spire.tokenizer_ext import hf_tokenizer_from_sp
    text = out_dir.parent / "sp_corpus.txt"
    lines = toy_sentences(3000)
    lines += [f"{w} {x}" for w in ("English:", "Toyish:", "Speech:") for x in WORDS]
    text.write_text("\n".join(lines) + "\n")
    model = train_sentencepiece([text], out_dir.parent / "sp.model", vocab_size=320)
    hf_tokenizer_from_sp(model).save_pretrained(str(out_dir))
    return out_dir


@pytest.fixture(scope="session")
def base_tok_dir(tmp_path_factory):
    return build_base_tokenizer(tmp_path_factory.mktemp("basetok") / "tok")


@pytest.fixture(scope="session")
def ext_tok_dir(base_tok_dir, tmp_path_factory):
    from spire.tokenizer_ext import extend_tokenizer
    out = tmp_path_factory.mktemp("exttok") / "tok"
    extend_tokenizer(base_tok_dir, out, N_UNITS)
    return out


@pytest.fixture(scope="session")
def inst_tok_dir(base_tok_dir, tmp_path_factory):
    from spire.tokenizer_ext import extend_tokenizer
    out = tmp_path_factory.mktemp("insttok") / "tok"
    extend_tokenizer(base_tok_dir, out, N_UNITS, instruct=True)
    return out


def tiny_llama(tok, seed=0, **over):
    from spire.mini.base_lm import init_llama
    return init_llama(tok, "tiny", seed=seed, **over)
