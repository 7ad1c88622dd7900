"""The miniature world: grammar (deterministic, disjoint splits) and the espeak-ng corpus."""
from __future__ import annotations

import hashlib
import json

import pytest
import soundfile as sf
import yaml

from conftest import run_task, task_main
from spire.audio_data import open_audio_dataset
from spire.io import read_lines
from spire.mini import grammar
from spire.mini.speech import VOICES


def test_grammar_is_deterministic_and_splits_disjoint():
    train, dev, test = grammar.make_splits(3000, 200, 200, seed=0)
    assert (train, dev, test) == grammar.make_splits(3000, 200, 200, seed=0)
    assert grammar.make_splits(50, 5, 5, seed=1)[0] != grammar.make_splits(50, 5, 5, seed=0)[0]
    assert len(set(train)) == 3000 and not set(train) & set(test) and not set(dev) & set(test)
    assert not set(train) & set(dev)
    vocab = set(grammar.vocabulary())
    assert 180 <= len(vocab) <= 240
    lengths = [len(s.split()) for s in train]
    assert min(lengths) >= 4 and max(lengths) <= 9 and len(set(lengths)) >= 5
    assert all(set(s.split()) <= vocab for s in train)
    firsts = {s.split()[0] for s in train}  # every template is used (questions, pronouns, statements)
    assert {"why", "where"} & firsts and {"i", "she", "we"} & firsts and {"the", "a"} & firsts
    extra = grammar.text_sentences(5000, seed=7, exclude=set(test) | set(dev))
    assert len(set(extra)) == 5000 and not set(extra) & set(test)


def test_corpus_layout(mini_corpus):
    for split, n in (("train", 24), ("dev", 6), ("test", 6)):
        rows = [json.loads(x) for x in (mini_corpus / f"{split}.jsonl").read_text().splitlines()]
        assert len(rows) == n and [r["text"] for r in rows] == read_lines(mini_corpus / f"{split}.txt")
        for r in rows[:3]:
            info = sf.info(mini_corpus / r["audio"])  # relative to the manifest's directory
            assert info.samplerate == 16000 and info.channels == 1
            assert abs(info.duration - r["duration"]) < 1e-3 and 0.8 < r["duration"] < 8
            assert r["voice"] in VOICES and 130 <= r["rate"] <= 190 and 30 <= r["pitch"] <= 70
        assert yaml.safe_load((mini_corpus / f"{split}.yaml").read_text())["path"] == f"{split}.jsonl"
        assert len(open_audio_dataset(mini_corpus / f"{split}.yaml")) == n
    voices = {json.loads(x)["voice"] for x in (mini_corpus / "train.jsonl").read_text().splitlines()}
    assert len(voices) >= 10


def test_synth_cli_is_deterministic(mini_corpus, tmp_path):
    run_task("synth_mini_speech.py", "--out", tmp_path / "c", "--n-train", 24, "--n-dev", 6, "--n-test", 6,
             "--seed", 0)
    assert (tmp_path / "c" / "train.jsonl").read_text() == (mini_corpus / "train.jsonl").read_text()
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    wav = "wavs/test/test-00004.wav"
    assert digest(tmp_path / "c" / wav) == digest(mini_corpus / wav)


def test_corpus_audio_does_not_depend_on_workers(tmp_path, monkeypatch):
    """espeak-ng carries state between utterances: the blocks, not the workers, fix each WAV."""
    from spire.mini import speech

    monkeypatch.setattr(speech, "BLOCK", 10)
    splits = {"train": grammar.make_splits(40, 1, 1, seed=3)[0]}
    digests = []
    for jobs in (1, 3):
        speech.synthesize_corpus(tmp_path / f"j{jobs}", 0, 0, 0, seed=3, jobs=jobs, splits=splits)
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in sorted((tmp_path / f"j{jobs}" / "wavs" / "train").iterdir())])
    assert len(digests[0]) == 40 and digests[0] == digests[1]


# one utterance from a fresh process after DRAWS draws of the C library's rand(), as a worker that
# some other code in it had drawn from (the engine's other state carries over within a process,
# so each case needs its own)
_SPEAK_AFTER_DRAWS = """
import ctypes, ctypes.util, hashlib, sys
from spire.mini import speech
libc = ctypes.CDLL(ctypes.util.find_library("c"))
for _ in range(int(sys.argv[2])):
    libc.rand()
x = speech._engine().speak("the brave singer carried my lamp", sys.argv[1], 160, 50)
print(len(x), hashlib.sha256(x.tobytes()).hexdigest())
"""


def test_breathy_voices_do_not_depend_on_other_draws_of_rand():
    """The breath noise of espeak-ng's f2/f3 variants comes from the process's C rand(): draws
    elsewhere in the process before the engine speaks must not change what it speaks."""
    import subprocess
    import sys

    def speak(voice: str, draws: int) -> str:
        out = subprocess.run([sys.executable, "-c", _SPEAK_AFTER_DRAWS, voice, str(draws)],
                             capture_output=True, text=True, check=True).stdout.split()
        assert int(out[0]) > 8000
        return out[1]

    for voice in ("en-us+f2", "en-us+m1"):  # breathy, and a variant without breath
        assert speak(voice, 0) == speak(voice, 3), voice


def test_synth_cli_two_steps_equal_one(mini_corpus, tmp_path):
    """--text-only then --sentences (as the workflow runs it) gives the one-step corpus."""
    main = task_main("synth_mini_speech.py")
    main(["--text-only", "--out", str(tmp_path / "s"), "--n-train", "24", "--n-dev", "6", "--n-test", "6",
          "--seed", "0"])
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["dev.txt", "test.txt", "train.txt"]
    main(["--sentences", str(tmp_path / "s"), "--out", str(tmp_path / "c"), "--seed", "0"])
    for split in ("train", "dev", "test"):
        assert (tmp_path / "c" / f"{split}.jsonl").read_text() == (mini_corpus / f"{split}.jsonl").read_text()
    (tmp_path / "s" / "dev.txt").unlink()
    with pytest.raises(SystemExit):
        main(["--sentences", str(tmp_path / "s"), "--out", str(tmp_path / "d")])
    assert not (tmp_path / "d").exists()


def test_make_mini_encoder_cli(tmp_path):
    task_main("make_mini_encoder.py")(["--type", "hubert", "--out", str(tmp_path / "h"), "--layers", "3"])
    from spire.encoders import load_encoder
    from spire.mini.encoders import make_mfcc_encoder

    make_mfcc_encoder(tmp_path / "m")

    assert load_encoder(tmp_path / "h", layer=3).num_layers == 3
    assert load_encoder(tmp_path / "m").dim == 39
    assert json.loads((tmp_path / "h" / "preprocessor_config.json").read_text())["do_normalize"] is True
