"""Shared fixtures of the speech-unit tests: a tiny espeak-ng corpus, tiny encoders, k-means.

Everything is built locally (offline) once per session and kept small: the whole speech-unit
suite must run in a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_task(script: str, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run ``tasks/<script>`` with the test's interpreter, as the workflow would."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(REPO / "tasks" / script), *map(str, args)],
                          capture_output=True, text=True, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def task_main(script: str):
    """The ``main(argv)`` of ``tasks/<script>``, for checking error paths without a subprocess."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"task_{script[:-3]}", REPO / "tasks" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory) -> Path:
    """24 train / 6 dev / 6 test espeak-ng utterances (about a minute of audio)."""
    from spire.mini.speech import synthesize_corpus

    out = tmp_path_factory.mktemp("corpus") / "mini"
    synthesize_corpus(out, 24, 6, 6, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_hubert(tmp_path_factory) -> Path:
    from spire.mini.encoders import make_tiny_hubert

    out = tmp_path_factory.mktemp("enc") / "hubert"
    make_tiny_hubert(out, seed=0)
    return out


@pytest.fixture(scope="session")
def mfcc_encoder(tmp_path_factory) -> Path:
    from spire.mini.encoders import make_mfcc_encoder

    out = tmp_path_factory.mktemp("enc") / "mfcc"
    make_mfcc_encoder(out)
    return out


def fit_kmeans_on(encoder_dir: Path, corpus: Path, k: int, layer: int, out: Path) -> Path:
    """A plain scikit-learn k-means on the encoder's features of the train split."""
    from sklearn.cluster import KMeans

    from spire.audio import load_audio
    from spire.audio_data import open_audio_dataset
    from spire.encoders import load_encoder
    from spire.kmeans import save_kmeans

    enc = load_encoder(encoder_dir, layer=layer, device="cpu", dtype="fp32")
    ds = open_audio_dataset(corpus / "train.yaml")
    feats = np.concatenate([enc.features([load_audio(r.audio)])[0].numpy() for r in ds.records()])
    save_kmeans(KMeans(k, n_init=1, random_state=0).fit(feats.astype(np.float32)), out)
    return out


@pytest.fixture(scope="session")
def hubert_kmeans(tiny_hubert, mini_corpus, tmp_path_factory) -> Path:
    return fit_kmeans_on(tiny_hubert, mini_corpus, 16, 2, tmp_path_factory.mktemp("km") / "hubert.joblib")


@pytest.fixture(scope="session")
def mfcc_kmeans(mfcc_encoder, mini_corpus, tmp_path_factory) -> Path:
    return fit_kmeans_on(mfcc_encoder, mini_corpus, 24, 0, tmp_path_factory.mktemp("km") / "mfcc.joblib")
