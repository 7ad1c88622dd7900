"""The baselines (Whisper, SeamlessM4T-v2, HuBERT-Large + CTC) on tiny random models of the real
types, built here."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from eval_fixtures import build_seamless, build_whisper, load_task
from spire.audio_models import can_do, decode_audio, translate_text
from spire.io import read_lines
from spire.standins import build_hubert_ctc

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio_models")
    return {"whisper": build_whisper(root / "whisper"), "seamless": build_seamless(root / "seamless"),
            "hubert_ctc": build_hubert_ctc(root / "hubert_ctc")}


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
    # the stand-in, like the real model, translates into every target language of the paper
    # (the rehearsal found one that knew only deu and cmn)
    from spire.audio_models import SEAMLESS_LANGS
    for lang in SEAMLESS_LANGS:  # (a random decoder may say nothing: one line each is the point)
        assert len(decode_audio(models["seamless"], [(TONE, 16000)] * 2, "st", lang, max_new_tokens=2,
                                progress=False)) == 2


def test_decode_audio_task_on_a_dataset_config(models, tmp_path):
    sf.write(tmp_path / "a.wav", TONE, 16000)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    (tmp_path / "test.jsonl").write_text("".join(json.dumps({"audio": f, "text": "x", "id": f}) + "\n"
                                                 for f in ("a.wav", "bad.wav", "a.wav")))
    cfg = tmp_path / "test.yaml"
    cfg.write_text("path: test.jsonl\ntext_column: text\nid_column: id\n")
    # the workflow passes shots to every audio model; Whisper (zero-shot) reads none of them
    load_task("decode_audio").main(["--model", str(models["whisper"]), "--data", str(cfg), "--task", "asr",
                                    "--max-new-tokens", "3", "--out", str(tmp_path / "hyps.txt"),
                                    "--shots-data", str(tmp_path / "no_such.yaml"), "--shots", "5"])
    hyps = read_lines(tmp_path / "hyps.txt")
    assert len(hyps) == 3 and hyps[0] == hyps[2] != "" and hyps[1] == ""


def test_spiritlm_without_its_package_is_a_clear_error():
    import importlib.util
    assert importlib.util.find_spec("spiritlm") is None  # not installed here (not on PyPI)
    with pytest.raises(RuntimeError, match="Spirit LM needs its own package"):
        decode_audio("spiritlm", [(TONE, 16000)], "asr")


def _fake_spiritlm(monkeypatch, calls):
    """A stand-in of the spiritlm package's documented API (Spiritlm, GenerationInput, ContentType,
    OutputModality), recording each generate call; it answers with the number of speech inputs."""
    import enum
    import sys
    import types
    from dataclasses import dataclass

    mod = types.ModuleType("spiritlm.model.spiritlm_model")
    mod.ContentType = enum.Enum("ContentType", "TEXT SPEECH")
    mod.OutputModality = enum.Enum("OutputModality", "TEXT SPEECH ARBITRARY")

    @dataclass
    class GenerationInput:
        content: object
        content_type: object
    mod.GenerationInput = GenerationInput

    class Spiritlm:
        def __init__(self, name):
            calls.append(("load", name))

        def generate(self, output_modality, interleaved_inputs, generation_config):
            calls.append(("generate", output_modality, interleaved_inputs, generation_config))
            n = sum(1 for x in interleaved_inputs if x.content_type == mod.ContentType.SPEECH)
            return [GenerationInput(f"heard {n} speech inputs\nand more", mod.ContentType.TEXT)]
    mod.Spiritlm = Spiritlm
    for name in ("spiritlm", "spiritlm.model"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "spiritlm.model.spiritlm_model", mod)
    return mod


def test_spiritlm_asr_prompts_its_interleaved_few_shot_format(monkeypatch, tmp_path):
    calls = []
    mod = _fake_spiritlm(monkeypatch, calls)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    shots = [((TONE, 16000), "first shot"), (str(tmp_path / "bad.wav"), "unusable"), ((TONE, 16000), "  ")]
    hyps = decode_audio("spiritlm:spirit-lm-expressive-7b", [(TONE, 16000), str(tmp_path / "bad.wav")],
                        "asr", shots=shots, max_new_tokens=7, progress=False)
    assert calls[0] == ("load", "spirit-lm-expressive-7b")
    gens = [c for c in calls if c[0] == "generate"]
    assert len(gens) == 1  # the unreadable test file is not decoded: it gets an empty line
    _, modality, inputs, config = gens[0]
    assert modality == mod.OutputModality.TEXT
    assert [x.content_type.name for x in inputs] == ["SPEECH", "TEXT", "SPEECH"]  # one usable shot
    assert inputs[1].content == "first shot\n" and inputs[0].content.dtype.is_floating_point
    assert (config.max_new_tokens, config.do_sample) == (7, False)
    assert hyps == ["heard 2 speech inputs", ""]  # cut at the end of the line


def test_spiritlm_model_named_by_the_workflows_yaml(monkeypatch, tmp_path):
    from spire.audio_models import spiritlm_name

    calls = []
    _fake_spiritlm(monkeypatch, calls)
    assert spiritlm_name(REPO / "configs" / "models" / "spiritlm.yaml") == "spirit-lm-base-7b"
    assert spiritlm_name("spiritlm") == "spirit-lm-base-7b" and spiritlm_name(tmp_path) is None
    decode_audio(REPO / "configs" / "models" / "spiritlm.yaml", [(TONE, 16000)], "asr", progress=False)
    assert calls[0] == ("load", "spirit-lm-base-7b")


def test_spiritlm_cannot_translate():
    with pytest.raises(ValueError, match="cannot do st"):
        decode_audio("spiritlm", [(TONE, 16000)], "st", "de")


def test_decode_audio_task_gives_spiritlm_its_shots_from_a_dataset(monkeypatch, tmp_path):
    calls = []
    _fake_spiritlm(monkeypatch, calls)
    sf.write(tmp_path / "a.wav", TONE, 16000)
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps({"audio": "a.wav", "text": t, "id": str(i)}) + "\n"
                                                for i, t in enumerate(["one two", "", "three"])))
    cfg = tmp_path / "dev.yaml"
    cfg.write_text("path: dev.jsonl\ntext_column: text\nid_column: id\n")
    args = ["--model", "spiritlm", "--data", str(cfg), "--task", "asr", "--shots-data", str(cfg),
            "--out", str(tmp_path / "hyps.txt")]
    load_task("decode_audio").main(args + ["--shots", "2"])
    prompts = [c[2] for c in calls if c[0] == "generate"]
    assert len(prompts) == 3  # one per test row
    assert sorted(x.content for x in prompts[0] if isinstance(x.content, str)) == ["one two\n", "three\n"]
    assert read_lines(tmp_path / "hyps.txt") == ["heard 3 speech inputs"] * 3
    with pytest.raises(SystemExit, match="fewer than --shots 3"):  # the empty transcript is no shot
        load_task("decode_audio").main(args + ["--shots", "3"])


def test_hubert_ctc_asr_is_greedy_ctc_over_its_character_vocabulary(models):
    import torch
    from transformers import AutoProcessor, HubertForCTC

    waves = [(TONE, 16000), (TONE[:0], 16000), (np.tile(TONE, 3), 16000)]
    out = decode_audio(models["hubert_ctc"], waves, "asr", batch_size=2, progress=False)
    assert len(out) == 3 and out[0] and out[1] == "" and out[2]
    assert set("".join(out)) <= set("ETAOINSHRDLUCMFWGYPBVKXJQZ' ")  # upper-case letters, no specials
    # the same labels as the model's own argmax over the recording alone, repeats merged and
    # blanks dropped: batching with a longer recording (padding, masked) changes nothing
    proc = AutoProcessor.from_pretrained(models["hubert_ctc"])
    model = HubertForCTC.from_pretrained(models["hubert_ctc"]).eval()
    with torch.inference_mode():
        ids = model(proc(TONE, sampling_rate=16000, return_tensors="pt").input_values).logits.argmax(-1)[0]
    assert out[0] == " ".join(proc.decode(ids).split())
    assert can_do("hubert", "asr") and not can_do("hubert", "st", "de")
    with pytest.raises(ValueError, match="cannot do st"):
        decode_audio(models["hubert_ctc"], [(TONE, 16000)], "st", "de")


def test_an_encoder_without_ctc_head_is_refused(tmp_path):
    from transformers import HubertConfig, HubertModel

    HubertModel(HubertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32, conv_dim=(8,) * 7, num_conv_pos_embeddings=16,
                             num_conv_pos_embedding_groups=2)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="no CTC head.*hubert-large-ls960-ft"):
        decode_audio(tmp_path, [(TONE, 16000)], "asr", progress=False)


def test_seamless_translates_text_with_its_language_codes(models, monkeypatch):
    from transformers import SeamlessM4Tv2ForTextToText

    seen = []
    generate = SeamlessM4Tv2ForTextToText.generate

    def spy(self, *args, **kw):
        seen.append((kw["tgt_lang"], kw["input_ids"][:, 0].tolist()))
        return generate(self, *args, **kw)
    monkeypatch.setattr(SeamlessM4Tv2ForTextToText, "generate", spy)
    out = translate_text(models["seamless"], ["the cat sat on the mat", "", "der Hund lief"], "de", "zh",
                         max_new_tokens=3, progress=False)
    assert len(out) == 3 and out[1] == ""  # an empty source stays an empty line, undecoded
    from transformers import AutoProcessor
    tok = AutoProcessor.from_pretrained(models["seamless"]).tokenizer
    assert seen == [("cmn", [tok.convert_tokens_to_ids("__deu__")] * 2)]  # Mandarin is cmn; source prefixed
    with pytest.raises(ValueError, match="source language 'ty'"):
        translate_text(models["seamless"], ["x"], "ty", "en")
    with pytest.raises(ValueError, match="does not translate text"):
        translate_text(models["whisper"], ["x"], "en", "de")


def test_decode_audio_task_translates_a_source_file(models, tmp_path):
    (tmp_path / "src.txt").write_text("the cat\n\nthe mat\n")
    args = ["--model", str(models["seamless"]), "--task", "mt", "--src-lang", "en", "--tgt-lang", "de",
            "--max-new-tokens", "2", "--out", str(tmp_path / "hyps.txt")]
    load_task("decode_audio").main(args + ["--sources", str(tmp_path / "src.txt")])
    hyps = read_lines(tmp_path / "hyps.txt")
    assert len(hyps) == 3 and hyps[1] == ""
    with pytest.raises(SystemExit, match="give --sources"):
        load_task("decode_audio").main(args)
    with pytest.raises(SystemExit, match="decodes speech: give --data"):
        load_task("decode_audio").main(["--model", str(models["whisper"]), "--task", "asr", "--out", "x"])


def test_every_model_the_paper_config_fetches_has_a_standin():
    """The rehearsal's mirror has each HubModel of configs/paper.tconf (HuBERT CTC included)."""
    import re

    from spire import standins

    text = (REPO / "configs" / "paper.tconf").read_text()
    block = text.split("hub_model_id=(HubModel:", 1)[1].split(")", 1)[0]
    ids = set(re.findall(r"=(\S+)", block))
    built = {v for v in vars(standins).values() if isinstance(v, str)} | set(standins.SPIRE_RELEASED)
    assert "facebook/hubert-large-ls960-ft" in ids
    assert not ids - built, f"no stand-in for {sorted(ids - built)} (spire/standins.py build_models)"
