"""The audio baselines (Whisper, SeamlessM4T-v2) on tiny random models of the real types, built here."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from eval_fixtures import build_seamless, build_whisper, load_task
from spire.audio_models import can_do, decode_audio
from spire.io import read_lines


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio_models")
    return {"whisper": build_whisper(root / "whisper"), "seamless": build_seamless(root / "seamless")}


TONE = (np.sin(np.arange(16000) / 16000 * 2 * np.pi * 200) * 0.3).astype(np.float32)


def test_whisper_asr_short_and_long_form(models):
    out = decode_audio(models["whisper"], [(TONE, 16000), (TONE[:0], 16000), (np.tile(TONE, 31), 16000)],
                       "asr", max_new_tokens=4, progress=False)
    assert len(out) == 3 and out[0] and out[1] == "" and out[2]  # 31 s: long-form, not cut at 30 s
    assert len(out[2]) > len(out[0])
    with pytest.raises(ValueError, match="Whisper translates only into English"):
        decode_audio(models["whisper"], [(TONE, 16000)], "st", "de")
    assert can_do("whisper", "asr") and not can_do("whisper", "st", "de")


def test_seamless_asr_and_st_differ_by_target_language(models):
    st = decode_audio(models["seamless"], [(TONE, 16000), (np.tile(TONE, 3), 16000)], "st", "de",
                      max_new_tokens=4, progress=False)
    assert len(st) == 2 and all(st)
    assert can_do("seamless_m4t_v2", "st", "zh") and not can_do("seamless_m4t_v2", "st", "ty")


def test_decode_audio_task_on_a_dataset_config(models, tmp_path):
    sf.write(tmp_path / "a.wav", TONE, 16000)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    (tmp_path / "test.jsonl").write_text("".join(json.dumps({"audio": f, "text": "x", "id": f}) + "\n"
                                                 for f in ("a.wav", "bad.wav", "a.wav")))
    cfg = tmp_path / "test.yaml"
    cfg.write_text("path: test.jsonl\ntext_column: text\nid_column: id\n")
    load_task("decode_audio").main(["--model", str(models["whisper"]), "--data", str(cfg), "--task", "asr",
                                    "--max-new-tokens", "3", "--out", str(tmp_path / "hyps.txt")])
    hyps = read_lines(tmp_path / "hyps.txt")
    assert len(hyps) == 3 and hyps[0] == hyps[2] != "" and hyps[1] == ""


def test_spiritlm_without_its_package_is_a_clear_error():
    import importlib.util
    assert importlib.util.find_spec("spiritlm") is None  # not installed here (not on PyPI)
    with pytest.raises(RuntimeError, match="Spirit LM needs its own package"):
        decode_audio("spiritlm", [(TONE, 16000)], "asr")
